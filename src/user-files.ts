/**
 * Files named on the command line. Inputs (a manifest, an archive, an agent list, a config file) are
 * untrusted: each must exist and be a regular file. A FIFO would block the open itself (`validate
 * fifo.csv` hung), and a device such as /dev/zero never ends — both are refused before opening, with
 * the same one-line, exit-2 error as a missing file.
 */
import { createHash } from 'node:crypto';
import { constants, createReadStream, statSync, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from './errors.js';

function why(error: NodeJS.ErrnoException): string {
  if (error.code === 'ENOENT') return 'no such file';
  if (error.code === 'EACCES') return 'permission denied';
  if (error.code === 'EISDIR') return 'it is a folder';
  return error.message;
}

function judge(file: string, what: string, info: Stats | Error, maxBytes?: number): void {
  if (info instanceof Error) throw new UsageError(`cannot read ${what} "${file}": ${why(info as NodeJS.ErrnoException)}`);
  if (info.isDirectory()) throw new UsageError(`cannot read ${what} "${file}": it is a folder, not a file`);
  if (!info.isFile()) throw new UsageError(`cannot read ${what} "${file}": not a regular file (a pipe or a device)`, `save it to a file first`);
  if (maxBytes !== undefined && info.size > maxBytes) throw new UsageError(`cannot read ${what} "${file}": ${info.size} bytes, more than the ${maxBytes} allowed`);
}

/** Checks that `file` is a readable regular file (of at most `maxBytes`); throws exit 2 naming it otherwise. */
export async function requireRegularFile(file: string, what: string, maxBytes?: number): Promise<void> {
  judge(file, what, await stat(file).catch((error: Error) => error), maxBytes);
}

/** The same check, for the few places that read synchronously (the config file). */
export function requireRegularFileSync(file: string, what: string, maxBytes?: number): void {
  let info: Stats | Error;
  try {
    info = statSync(file);
  } catch (error) {
    info = error as Error;
  }
  judge(file, what, info, maxBytes);
}

/** Opens a regular file for reading (checked first, and opened non-blocking so a swapped-in FIFO cannot hang). */
export async function openRegularFile(file: string, what: string): Promise<FileHandle> {
  await requireRegularFile(file, what);
  let handle: FileHandle | undefined;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    if (!(await handle.stat()).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
    return handle;
  } catch (error) {
    await handle?.close();
    throw new UsageError(`cannot read ${what} "${file}": ${why(error as NodeJS.ErrnoException)}`);
  }
}

/**
 * Checks that `file` can be created: its folder exists (an operator's `--out archive/x.gz` before
 * `mkdir archive` gets a one-line error and the fix, not a stack) and it is not itself a folder.
 */
export async function requireWritableTarget(file: string, what: string): Promise<void> {
  const folder = path.dirname(path.resolve(file));
  const info = await stat(folder).catch(() => undefined);
  if (!info) throw new UsageError(`cannot write ${what} "${file}": the folder ${path.dirname(file)}/ does not exist`, `create it first: mkdir -p ${JSON.stringify(path.dirname(file))}`);
  if (!info.isDirectory()) throw new UsageError(`cannot write ${what} "${file}": ${path.dirname(file)} is not a folder`);
  const existing = await stat(file).catch(() => undefined);
  if (existing?.isDirectory()) throw new UsageError(`cannot write ${what} "${file}": it is a folder`, 'give a file name inside it');
}

/** A file's SHA-256 (hex): what ties a batch or a plan to the exact content it was made from. */
export async function fileDigest(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
