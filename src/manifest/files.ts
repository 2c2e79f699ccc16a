/**
 * `$file` / `$template` / `FIELD:file` references: resolved relative to the manifest's folder and
 * refused outside it (symlinks followed, so a link cannot smuggle /etc/passwd into a prompt) unless
 * `allowOutside`. Files must be regular, UTF-8 and at most 1 MiB. Results are cached per path, and
 * only the metadata stays cached for validation, so a manifest naming many files stays small.
 */
import { isUtf8 } from 'node:buffer';
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { placeholders, placeholderUse } from '../patch/template.js';
import { MAX_CELL_BYTES } from './types.js';

export type FileCheck = { ok: true; placeholders: string[]; bytes: number; use: ReturnType<typeof placeholderUse> } | { ok: false; message: string };

export class ManifestFiles {
  readonly #dir: string;
  readonly #allowOutside: boolean;
  #realDir: Promise<string> | undefined;
  readonly #checks = new Map<string, Promise<FileCheck>>();
  readonly #texts = new Map<string, string>();

  constructor(manifestPath: string, options: { allowOutside?: boolean } = {}) {
    this.#dir = path.dirname(path.resolve(manifestPath));
    this.#allowOutside = options.allowOutside ?? false;
  }

  check(ref: string): Promise<FileCheck> {
    let check = this.#checks.get(ref);
    if (!check) {
      check = this.#load(ref).then(
        (text) => ({ ok: true as const, placeholders: placeholders(text), bytes: Buffer.byteLength(text), use: placeholderUse(text) }),
        (error: Error) => ({ ok: false as const, message: error.message }),
      );
      this.#checks.set(ref, check);
    }
    return check;
  }

  /** The file's text (after a successful check). Kept in memory: a batch uses a handful of files. */
  async text(ref: string): Promise<string> {
    const cached = this.#texts.get(ref);
    if (cached !== undefined) return cached;
    const text = await this.#load(ref);
    this.#texts.set(ref, text);
    return text;
  }

  async #load(ref: string): Promise<string> {
    const target = path.resolve(this.#dir, ref);
    const inside = (file: string, dir: string) => file === dir || file.startsWith(dir + path.sep);
    const outside = `file "${ref}" is outside the manifest's folder (use --allow-files-outside to permit)`;
    // Lexically first, so a path outside is refused whether or not it exists; then again after
    // symlinks are resolved, so a link inside cannot point outside.
    if (!this.#allowOutside && !inside(target, this.#dir)) throw new Error(outside);
    let real: string;
    try {
      real = await realpath(target);
    } catch (error) {
      throw new Error(`cannot read file "${ref}": ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (error as Error).message}`);
    }
    if (!this.#allowOutside) {
      const base = await (this.#realDir ??= realpath(this.#dir));
      if (!inside(real, base)) throw new Error(outside);
    }
    const info = await stat(real);
    if (!info.isFile()) throw new Error(`"${ref}" is not a regular file`);
    if (info.size > MAX_CELL_BYTES) throw new Error(`file "${ref}" is over 1 MiB`);
    const bytes = await readFile(real);
    if (!isUtf8(bytes)) throw new Error(`file "${ref}" is not valid UTF-8`);
    return bytes.toString('utf8').replace(/^\uFEFF/, '');
  }
}
