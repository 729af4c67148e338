/**
 * Outbound files: a notification's file (`pi-gateway notify --file`, the agent's gateway_notify)
 * and files a reply names on a line of its own, `MEDIA: /absolute/path`. Images (.jpg .jpeg .png
 * .webp, at most 10 MB) go as photos, anything else as a document (at most 50 MB, the Bot API's
 * upload limits). A reply may only send files under the gateway's files directory or the daemon's
 * working directory (symlinks resolved); a notification's file is the owner's choice and may be
 * anywhere readable. A file that can't be sent is named in the chat with the reason, and logged.
 */
import { realpath, stat } from "node:fs/promises";
import { basename, extname, isAbsolute, relative } from "node:path";
import { InputFile, type Api } from "grammy";

export const PHOTO_UPLOAD_MAX = 10 * 1024 * 1024;
export const DOCUMENT_UPLOAD_MAX = 50 * 1024 * 1024;
export const CAPTION_MAX = 1024;
const PHOTO_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".webp"]);
/** A `MEDIA: /path` line (the path is the rest of the line). */
const MEDIA_LINE = /^[ \t]*MEDIA:[ \t]*(\S.*?)[ \t]*$/gm;
/** Most files one reply sends. */
export const REPLY_FILES_MAX = 10;

export class FileNotSent extends Error {}

/** Splits `MEDIA: <path>` lines off a reply: the text without them, and the paths in order. */
export function extractMediaLines(text: string): { text: string; files: string[] } {
  const files: string[] = [];
  const rest = text.replace(MEDIA_LINE, (_line, path: string) => {
    files.push(path);
    return "";
  });
  return files.length === 0 ? { text, files } : { text: rest.replace(/\n{3,}/g, "\n\n").trim(), files };
}

/** The file's real path when it is inside one of `dirs`; throws FileNotSent otherwise. */
export async function checkReplyFile(path: string, dirs: string[]): Promise<string> {
  if (!isAbsolute(path)) throw new FileNotSent("not an absolute path");
  const real = await realpath(path).catch(() => {
    throw new FileNotSent("no such file");
  });
  for (const dir of dirs) {
    const root = await realpath(dir).catch(() => undefined);
    if (!root) continue;
    const rel = relative(root, real);
    if (rel && !rel.startsWith("..") && !isAbsolute(rel)) return real;
  }
  throw new FileNotSent("outside the directories replies may send from (the gateway files directory and the daemon's working directory)");
}

export class FileSender {
  constructor(private readonly api: Api) {}

  /** Sends a file as a photo or a document, with an optional caption (cut to Telegram's 1024). */
  async send(chatId: number | string, path: string, caption?: string): Promise<"photo" | "document"> {
    const info = await stat(path).catch(() => {
      throw new FileNotSent("no such file");
    });
    if (!info.isFile()) throw new FileNotSent("not a regular file");
    if (info.size === 0) throw new FileNotSent("the file is empty");
    if (info.size > DOCUMENT_UPLOAD_MAX) throw new FileNotSent(`${info.size} bytes, over Telegram's 50 MB upload limit`);
    const extra = caption?.trim() ? { caption: cutCaption(caption) } : {};
    const file = new InputFile(path, basename(path));
    if (PHOTO_EXTENSIONS.has(extname(path).toLowerCase()) && info.size <= PHOTO_UPLOAD_MAX) {
      await this.api.sendPhoto(chatId, file, extra);
      return "photo";
    }
    await this.api.sendDocument(chatId, file, extra);
    return "document";
  }
}

export function cutCaption(text: string): string {
  return text.length <= CAPTION_MAX ? text : `${text.slice(0, CAPTION_MAX - 1)}…`;
}
