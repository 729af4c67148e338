/**
 * Inbound Telegram media. A photo is downloaded (the largest size within GATEWAY_TELEGRAM_PHOTO_MAX)
 * and handed to the model as an image; a document, voice message or audio file is saved under
 * `<files dir>/telegram/<UTC date>/<sanitised name>` (within GATEWAY_TELEGRAM_FILE_MAX) and the
 * prompt names its path, type and size. Anything too large is refused with a reason the sender is
 * shown. Files are fetched from the Bot API's file URL with the size checked before and while reading.
 */
import { mkdir, open } from "node:fs/promises";
import { extname, join } from "node:path";
import type { Api } from "grammy";
import type { Message } from "grammy/types";
import type { InboundImage } from "../../daemon/types.js";

export interface MediaOptions {
  filesDir: string;
  photoMaxBytes: number;
  fileMaxBytes: number;
  /** The download URL of a Bot API file path. */
  fileUrl: (filePath: string) => string;
}

export interface SavedFile {
  path: string;
  type: string;
  size: number;
  originalName?: string;
}

export type MediaResult = { kind: "photo"; image: InboundImage; size: number } | { kind: "file"; file: SavedFile } | { kind: "refused"; reason: string };

/** The longest file name kept, in UTF-8 bytes (file systems allow 255). */
const NAME_MAX_BYTES = 120;
const DOWNLOAD_TIMEOUT_MS = 120_000;

export class RefusedMedia extends Error {}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * A received name made safe to save: the last path segment only, no control or shell-awkward
 * characters, no leading dots or blanks (no hidden files, no `..`), at most NAME_MAX_BYTES bytes
 * (the extension kept), `fallback` when nothing is left.
 */
export function sanitiseFileName(name: string | undefined, fallback: string): string {
  const last = (name ?? "").replace(/\\/g, "/").split("/").pop() ?? "";
  // eslint-disable-next-line no-control-regex
  let safe = last.normalize("NFC").replace(/[\u0000-\u001f\u007f<>:"|?*$`]/g, "_");
  safe = safe.replace(/^[.\s]+/, "").replace(/[.\s]+$/, "");
  if (!safe) safe = fallback;
  if (Buffer.byteLength(safe) > NAME_MAX_BYTES) {
    const ext = extname(safe).slice(0, 16);
    let stem = safe.slice(0, safe.length - extname(safe).length);
    while (stem && Buffer.byteLength(stem + ext) > NAME_MAX_BYTES) stem = [...stem].slice(0, -1).join("");
    safe = stem ? stem + ext : fallback;
  }
  return safe;
}

/** Creates `dir/name` exclusively, adding -1, -2... before the extension when the name is taken. */
async function createUnique(dir: string, name: string, data: Uint8Array): Promise<string> {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let n = 0; n < 1000; n++) {
    const path = join(dir, n === 0 ? name : `${stem}-${n}${ext}`);
    const handle = await open(path, "wx", 0o600).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "EEXIST") return undefined;
      throw error;
    });
    if (!handle) continue;
    try {
      await handle.writeFile(data);
    } finally {
      await handle.close();
    }
    return path;
  }
  throw new Error(`no free file name for ${name} in ${dir}`);
}

function imageType(bytes: Uint8Array): string {
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return "image/png";
  if (bytes[0] === 0x47 && bytes[1] === 0x49) return "image/gif";
  if (bytes[8] === 0x57 && bytes[9] === 0x45 && bytes[10] === 0x42 && bytes[11] === 0x50) return "image/webp";
  return "image/jpeg";
}

interface FileRef {
  file_id: string;
  file_size?: number;
}

export class MediaReceiver {
  constructor(
    private readonly api: Api,
    private readonly options: MediaOptions,
  ) {}

  /** The media of a message: an image, a saved file, a refusal, or undefined when it has none. */
  async receive(message: Message): Promise<MediaResult | undefined> {
    try {
      if (message.photo?.length) return await this.photo(message.photo);
      const doc = message.document ?? message.audio ?? message.voice ?? message.video ?? message.video_note;
      if (!doc) return undefined;
      const kind = message.document ? "document" : message.audio ? "audio" : message.voice ? "voice" : "video";
      const given = "file_name" in doc ? doc.file_name : undefined;
      const type = ("mime_type" in doc ? doc.mime_type : undefined) ?? "application/octet-stream";
      const fallback = `${kind}-${message.message_id}${defaultExtension(kind, type)}`;
      return { kind: "file", file: await this.save(doc, sanitiseFileName(given, fallback), type, given) };
    } catch (error) {
      if (error instanceof RefusedMedia) return { kind: "refused", reason: error.message };
      throw error;
    }
  }

  private async photo(sizes: FileRef[]): Promise<MediaResult> {
    const max = this.options.photoMaxBytes;
    // Sizes come smallest first; the largest that fits (a size without file_size is tried).
    const fitting = sizes.filter((size) => (size.file_size ?? 0) <= max);
    const best = fitting.at(-1);
    if (!best) {
      const smallest = Math.min(...sizes.map((size) => size.file_size ?? 0));
      throw new RefusedMedia(`the photo is ${formatBytes(smallest)}, over the ${formatBytes(max)} limit (GATEWAY_TELEGRAM_PHOTO_MAX)`);
    }
    const bytes = await this.download(best, max, "photo", "GATEWAY_TELEGRAM_PHOTO_MAX");
    return { kind: "photo", image: { data: Buffer.from(bytes).toString("base64"), mimeType: imageType(bytes) }, size: bytes.length };
  }

  private async save(ref: FileRef, name: string, type: string, originalName: string | undefined): Promise<SavedFile> {
    const bytes = await this.download(ref, this.options.fileMaxBytes, "file", "GATEWAY_TELEGRAM_FILE_MAX");
    const dir = join(this.options.filesDir, "telegram", new Date().toISOString().slice(0, 10));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = await createUnique(dir, name, bytes);
    return { path, type, size: bytes.length, ...(originalName ? { originalName } : {}) };
  }

  /** Fetches a file, refusing it (RefusedMedia) as soon as it is known to be over `max` bytes. */
  private async download(ref: FileRef, max: number, what: string, setting: string): Promise<Uint8Array> {
    const tooLarge = (size: number) => new RefusedMedia(`the ${what} is ${formatBytes(size)}, over the ${formatBytes(max)} limit (${setting})`);
    if ((ref.file_size ?? 0) > max) throw tooLarge(ref.file_size ?? 0);
    const file = await this.api.getFile(ref.file_id);
    if ((file.file_size ?? 0) > max) throw tooLarge(file.file_size ?? 0);
    if (!file.file_path) throw new Error("Telegram gave no file path for the file (getFile)");
    const response = await fetch(this.options.fileUrl(file.file_path), { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
    if (!response.ok || !response.body) throw new Error(`downloading the ${what} failed: HTTP ${response.status}`);
    const declared = Number(response.headers.get("content-length") ?? 0);
    if (declared > max) {
      await response.body.cancel();
      throw tooLarge(declared);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of response.body) {
      total += chunk.byteLength;
      // Leaving the loop cancels the download.
      if (total > max) throw tooLarge(total);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }
}

function defaultExtension(kind: string, type: string): string {
  if (kind === "voice") return ".ogg";
  const known: Record<string, string> = { "audio/mpeg": ".mp3", "audio/ogg": ".ogg", "audio/mp4": ".m4a", "video/mp4": ".mp4", "application/pdf": ".pdf" };
  return known[type] ?? "";
}

/** What the agent is told about a saved file (after the caption, if any). */
export function describeSavedFile(file: SavedFile): string {
  const name = file.originalName ? `, original name ${JSON.stringify(file.originalName)}` : "";
  return `[Telegram file received and saved: path ${file.path}, type ${file.type}, size ${file.size} bytes (${formatBytes(file.size)})${name}]`;
}
