// Lint config: typescript-eslint's recommended rules on every TS file we own; the browser app
// (src/web/app) gets browser globals and may take only types from the server code and Node; the
// layering of ../shared/design/architecture.md: an import only points down the list of layers below.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

/**
 * src/ folders from the bottom up. A module may import from its own layer and the ones before it,
 * never from a later one. Every folder's `cli.ts` (and `cli-*.ts`, its parts) is a front door (the last layer): it wires the
 * layers below it together.
 */
export const LAYERS = [
  ["util", "protocol"],
  ["config"],
  ["bus"],
  ["host"],
  ["extension", "daemon"],
  ["channels", "heartbeat", "web"],
  ["cli", "setup", "doctor", "security"],
];

function layeringRules() {
  return LAYERS.slice(0, -1).map((layer, index) => {
    const above = LAYERS.slice(index + 1).flat();
    return {
      files: layer.map((folder) => `src/${folder}/**/*.ts`),
      ignores: ["src/**/cli.ts", "src/**/cli-*.ts"],
      rules: {
        "no-restricted-imports": [
          "error",
          {
            patterns: [
              {
                regex: `^(\\.\\./)+(${above.join("|")})/`,
                message: `${layer.join("/")} is below ${above.join(", ")} in the layering (README "Code map"): move the shared code down, or pass it in from a front door.`,
              },
            ],
          },
        ],
      },
    };
  });
}

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**", ".tmp/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    files: ["src/web/app/**/*.ts"],
    languageOptions: { globals: globals.browser },
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["../../*", "node:*"],
              allowTypeImports: true,
              message: "The browser bundle must not pull server or Node code: import types only (import type).",
            },
          ],
        },
      ],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  ...layeringRules(),
  {
    // Small functions and files (architecture note, "Habits"): a longer one is split by job.
    files: ["src/**/*.ts"],
    rules: {
      "max-lines-per-function": ["error", { max: 60, skipBlankLines: true, skipComments: true }],
      "max-lines": ["error", { max: 400, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    files: ["scripts/**/*.mjs", ".ci/**/*.mjs"],
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } },
  },
);
