/**
 * Share links: a scenario's JSON text in the page's URL (`?share=…`), compressed with the
 * platform's CompressionStream (raw DEFLATE) and written as base64url. Decoding a damaged link
 * throws a {@link ShareLinkError} saying what was wrong, never anything else.
 * @module
 */

/** A share link that cannot be read. */
export class ShareLinkError extends Error {
  override readonly name = 'ShareLinkError';
}

/** Largest scenario text a link carries once decoded (a scenario file is a few KiB). */
export const SHARE_MAX_CHARS = 1_000_000;

async function pipe(bytes: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const out = new Response(new Blob([bytes as BlobPart]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

/** The `share` parameter of a scenario text. */
export async function encodeShare(text: string): Promise<string> {
  const z = await pipe(new TextEncoder().encode(text), new CompressionStream('deflate-raw'));
  let bin = '';
  for (let i = 0; i < z.length; i++) bin += String.fromCharCode(z[i]!);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The scenario text of a `share` parameter. */
export async function decodeShare(param: string): Promise<string> {
  if (!/^[A-Za-z0-9_-]+$/.test(param))
    throw new ShareLinkError(
      'the share link is damaged: its scenario is not base64url text (was it cut short?)',
    );
  let bin: string;
  try {
    bin = atob(param.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    throw new ShareLinkError(
      'the share link is damaged: its scenario is not base64url text (was it cut short?)',
    );
  }
  const z = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) z[i] = bin.charCodeAt(i);
  let bytes: Uint8Array;
  try {
    bytes = await pipe(z, new DecompressionStream('deflate-raw'));
  } catch {
    throw new ShareLinkError(
      'the share link is damaged: its scenario does not decompress (was it cut short?)',
    );
  }
  if (bytes.length > SHARE_MAX_CHARS)
    throw new ShareLinkError(`the share link's scenario is larger than ${SHARE_MAX_CHARS} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ShareLinkError('the share link is damaged: its scenario is not UTF-8 text');
  }
}
