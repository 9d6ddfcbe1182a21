/**
 * The whiteboard page's files, served by every worker.
 *
 * Safety comes from never touching the filesystem on a request: at start-up
 * the page's files (packages/page: static/ and the compiled dist/*.js) and the
 * browser-side protocol (packages/protocol/dist/*.js, pure code without I/O)
 * are read into memory and put in a map from URL path to bytes. A request can
 * only pick an entry of that map, so there is nothing to traverse and no
 * directory to list, whatever the URL holds.
 *
 * Caching: every asset lives under /assets/VERSION/, where VERSION is a hash
 * of all of them, so assets are cached for a year as immutable, and a new
 * build gets new URLs. The HTML (at / and /b/BOARD) names the version and is
 * revalidated on every load (ETag, `no-cache`), so a reload reaches users at
 * their next page load. During a rolling reload an old page may ask a new
 * worker for an old version: it gets the current file, uncacheable.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { boardOfPagePath } from '@smegchat/protocol';

interface Asset {
  readonly body: Buffer;
  /** The gzip-compressed body, when it is worth sending. */
  readonly gzip: Buffer | null;
  readonly type: string;
  readonly etag: string;
  readonly cacheControl: string;
  readonly headers: Readonly<Record<string, string>>;
}

interface StaticFiles {
  readonly index: Asset;
  /** Versioned URL path → asset. */
  readonly assets: ReadonlyMap<string, Asset>;
  /** Asset name (the part after /assets/VERSION/) → the same asset, uncacheable: for other versions. */
  readonly stale: ReadonlyMap<string, Asset>;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page's hand-written files; the compiled scripts are found by listing dist/. */
const PAGE_STATIC = ['style.css', 'icon.svg'] as const;
/** What a served script's file name looks like; anything else in a dist folder is left out. */
const SCRIPT = /^[a-z0-9][a-z0-9-]*\.js$/;
const BOARD_PAGE = /^\/b\//;
const OTHER_VERSION = /^\/assets\/[A-Za-z0-9_-]{1,64}\/(.+)$/;
/** Longer URLs than this are refused (414): the page's own are under 100 bytes. */
const MAX_URL_LENGTH = 2048;
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/** Headers on every answer: nothing here may be sniffed, framed or leak where it came from. */
const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

let loaded: StaticFiles | null = null;
let loadError: string | null = null;

/**
 * Reads the page's files into memory. Called by the first request; a worker
 * may call it at start-up to fail (or log) early. Throws with one clear line
 * when the page has not been built.
 */
export function loadStaticFiles(): void {
  loaded ??= buildStaticFiles();
}

/** Serves one request that is not /healthz and not a WebSocket upgrade. */
export function handleStatic(req: IncomingMessage, res: ServerResponse): void {
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    // Connection: close, because a body that follows is never read; keeping
    // the connection would mean reading (and discarding) it, without bound.
    return plain(res, 405, 'only GET and HEAD are served here', { allow: 'GET, HEAD', connection: 'close' });
  }
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) {
    return plain(res, 413, 'a GET or HEAD request carries no body', { connection: 'close' });
  }
  const url = req.url ?? '/';
  if (url.length > MAX_URL_LENGTH) return plain(res, 414, 'URL too long');
  if (!url.startsWith('/')) return plain(res, 400, 'bad request target');

  let files: StaticFiles;
  try {
    files = loaded ??= buildStaticFiles();
  } catch (err) {
    loadError ??= err instanceof Error ? err.message : String(err);
    return plain(res, 503, loadError);
  }
  const q = url.indexOf('?');
  const asset = lookup(files, q === -1 ? url : url.slice(0, q));
  if (asset === null) return plain(res, 404, 'not found');
  send(req, res, asset, method === 'HEAD');
}

function lookup(files: StaticFiles, pathname: string): Asset | null {
  if (pathname === '/') return files.index;
  if (BOARD_PAGE.test(pathname)) return boardOfPagePath(pathname) !== null ? files.index : null;
  const asset = files.assets.get(pathname);
  if (asset !== undefined) return asset;
  const other = OTHER_VERSION.exec(pathname);
  return other === null ? null : (files.stale.get(other[1]!) ?? null);
}

function send(req: IncomingMessage, res: ServerResponse, asset: Asset, head: boolean): void {
  const headers: Record<string, string> = {
    ...COMMON_HEADERS,
    ...asset.headers,
    etag: asset.etag,
    'cache-control': asset.cacheControl,
  };
  if (asset.gzip !== null) headers['vary'] = 'Accept-Encoding';
  if (etagMatches(req.headers['if-none-match'], asset.etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const body = asset.gzip !== null && acceptsGzip(req.headers['accept-encoding']) ? asset.gzip : asset.body;
  if (body !== asset.body) headers['content-encoding'] = 'gzip';
  headers['content-type'] = asset.type;
  headers['content-length'] = String(body.length);
  res.writeHead(200, headers);
  res.end(head ? undefined : body);
}

function plain(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    ...COMMON_HEADERS,
    ...extra,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** If-None-Match uses the weak comparison: W/ prefixes are ignored, `*` matches anything. */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag.replace(/^W\//, '') === bare;
  });
}

function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

// ------------------------------------------------------------------ start-up

function packageDir(specifier: string): string {
  return path.dirname(fileURLToPath(import.meta.resolve(specifier)));
}

function scripts(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => SCRIPT.test(f))
    .sort();
}

function buildStaticFiles(): StaticFiles {
  const pageDir = packageDir('@smegchat/page/package.json');
  const protocolDir = packageDir('@smegchat/protocol');
  const pageDist = path.join(pageDir, 'dist');

  // name (as in the URL after /assets/VERSION/) → file on disk
  const sources = new Map<string, string>();
  for (const f of PAGE_STATIC) sources.set(f, path.join(pageDir, 'static', f));
  let appScripts: string[];
  try {
    appScripts = scripts(pageDist);
  } catch {
    appScripts = [];
  }
  if (!appScripts.includes('main.js')) {
    throw new Error(`the whiteboard page is not built (no ${path.join(pageDist, 'main.js')}): run "npm run build"`);
  }
  for (const f of appScripts) sources.set(`app/${f}`, path.join(pageDist, f));
  for (const f of scripts(protocolDir)) sources.set(`protocol/${f}`, path.join(protocolDir, f));

  const contents = new Map<string, Buffer>();
  const version = createHash('sha256');
  for (const [name, file] of sources) {
    const body = readFileSync(file);
    contents.set(name, body);
    version.update(name).update('\0').update(body).update('\0');
  }
  const base = `/assets/${version.digest('base64url').slice(0, 12)}`;

  const assets = new Map<string, Asset>();
  const stale = new Map<string, Asset>();
  for (const [name, body] of contents) {
    const type = TYPES[path.extname(name)];
    if (type === undefined) throw new Error(`no content type for ${name}`);
    assets.set(`${base}/${name}`, makeAsset(body, type, IMMUTABLE));
    stale.set(name, makeAsset(body, type, REVALIDATE));
  }

  const template = readFileSync(path.join(pageDir, 'static', 'index.html'), 'utf8');
  const html = template.replaceAll('%ASSETS%', base);
  return { index: makeAsset(Buffer.from(html), TYPES['.html']!, REVALIDATE, pageSecurityHeaders(html)), assets, stale };
}

function makeAsset(body: Buffer, type: string, cacheControl: string, headers: Record<string, string> = {}): Asset {
  const etag = `W/"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  // Small files gain nothing from compression; every text file above 1 KiB shrinks by half or more.
  const gzip = body.length > 1024 && !type.startsWith('image/') ? gzipSync(body, { level: 9 }) : null;
  return { body, gzip, type, etag, cacheControl, headers };
}

/**
 * A strict Content-Security-Policy for the page: its own scripts and styles
 * only, plus the one inline script (the import map), allowed by its hash;
 * WebSocket and fetch to this origin only; never framed.
 */
function pageSecurityHeaders(html: string): Record<string, string> {
  const inline = [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map(
    (m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`,
  );
  const csp = [
    "default-src 'none'",
    `script-src 'self' ${inline.join(' ')}`.trim(),
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { 'content-security-policy': csp, 'x-frame-options': 'DENY' };
}
