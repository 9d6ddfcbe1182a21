/**
 * Certificates for TLS tests, made with openssl in the test's scratch
 * directory (self-signed, for 127.0.0.1 and localhost), installed the way a
 * renewal hook does (new file, rename over the old), and the certificate a
 * real handshake is served.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { isRoot } from './scratch.js';

export interface Pair {
  readonly cert: string;
  readonly key: string;
  /** SHA-256 fingerprint, as Node prints it (AB:CD:...). */
  readonly fingerprint: string;
}

/** A fresh self-signed pair (P-256) for 127.0.0.1, in PEM. */
export function makePair(dir: string, name: string): Pair {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${name}`].concat([
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ]),
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 },
  );
  const cert = fs.readFileSync(certFile, 'utf8');
  const key = fs.readFileSync(keyFile, 'utf8');
  fs.rmSync(certFile);
  fs.rmSync(keyFile);
  return { cert, key, fingerprint: new crypto.X509Certificate(cert).fingerprint256 };
}

/** Where the server reads its pair, and who may read the key: the service group when tests run as root (nogroup). */
export interface Installed {
  readonly certFile: string;
  readonly keyFile: string;
}

export const SERVICE_GROUP_GID = isRoot ? Number(execFileSync('getent', ['group', 'nogroup'], { encoding: 'utf8' }).split(':')[2]) : -1;

/** Writes one file as a renewal hook does: a new file with its mode and group, renamed over the old. */
export function installFile(file: string, text: string, mode: number, gid = SERVICE_GROUP_GID): void {
  const tmp = `${file}.new`;
  fs.writeFileSync(tmp, text, { mode });
  fs.chmodSync(tmp, mode); // whatever the umask
  if (gid >= 0) fs.chownSync(tmp, 0, gid);
  fs.renameSync(tmp, file);
}

/** Installs a pair: the certificate 0644, the key 0640 root:the service group. */
export function installPair(dir: string, pair: Pair): Installed {
  const installed = { certFile: path.join(dir, 'server.crt'), keyFile: path.join(dir, 'server.key') };
  installFile(installed.certFile, pair.cert, 0o644);
  installFile(installed.keyFile, pair.key, 0o640);
  return installed;
}

/** The fingerprint of the certificate a new handshake gets, trusting `ca`. */
export function servedFingerprint(port: number, ca: string, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, timeout: ms }, () => {
      resolve(socket.getPeerX509Certificate()!.fingerprint256);
      socket.end();
    });
    socket.on('timeout', () => socket.destroy(new Error(`no TLS handshake within ${ms} ms`)));
    socket.on('error', reject);
  });
}

/** One HTTPS request, trusting `ca`, bounded. */
export function httpsGet(port: number, urlPath: string, ca: string, ms = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: urlPath, ca, agent: false, timeout: ms }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath}: no answer within ${ms} ms`)));
    req.on('error', reject);
    req.end();
  });
}
