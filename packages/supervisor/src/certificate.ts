/**
 * The TLS certificate and key the port serves (`--tls-cert`, `--tls-key`),
 * read by the supervisor as the service user: at start, after the privilege
 * drop, and again by every reload, so a renewed pair is read by the same user
 * as the first. Whatever is wrong with the files is one line for the
 * operator, and a reload that meets it keeps the pair already serving.
 *
 * The key is held in memory to be handed to workers (at fork, at renewal)
 * and nowhere else: never logged, never written.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import { MAX_PEM_LENGTH, type CertificateStatus } from '@smegchat/protocol';
import { ConfigError } from './options.js';

export interface CertificatePair {
  readonly cert: string;
  readonly key: string;
  readonly status: CertificateStatus;
  /** When the certificate expires, seconds since the epoch. */
  readonly notAfter: number;
}

/** Who reads the files: the service user and group a root start dropped to, or null (not started as root). */
export type Reader = { readonly user: string; readonly group: string } | null;

/** Reads a PEM file through one descriptor (what is checked is what is read), bounded in size. */
function readPem(file: string, what: string, reader: Reader, checkMode: boolean): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    const as = reader !== null ? ` as user ${reader.user}` : '';
    const hint =
      code === 'EACCES' && reader !== null
        ? `: every reload reads it again as that user, so install it root:${reader.group} mode 0640`
        : '';
    throw new ConfigError(`cannot read TLS ${what} ${file}${as}: ${code}${hint}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(`TLS ${what} ${file} is not a file`);
    if (checkMode && (st.mode & 0o007) !== 0) {
      throw new ConfigError(
        `TLS key ${file} is open to other users (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): ` +
          'refused; make it readable by its owner and the service group only (chmod 0640)',
      );
    }
    if (st.size > MAX_PEM_LENGTH) throw new ConfigError(`TLS ${what} ${file} is larger than ${MAX_PEM_LENGTH} bytes: not a PEM file`);
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** The subject on one line: OpenSSL's multi-line form joined ("CN=chat.example.org, O=Example"). */
function oneLineSubject(subject: string): string {
  return subject.split('\n').filter(Boolean).join(', ');
}

/**
 * Reads and checks the pair: both readable (by `reader`, named in the error),
 * the key not open to others, and the two a match (Node's own secure context
 * is made from them, as a worker will, and refuses a mismatch). Throws
 * ConfigError with one line.
 */
export function loadCertificatePair(certFile: string, keyFile: string, reader: Reader): CertificatePair {
  const key = readPem(keyFile, 'key', reader, true);
  const cert = readPem(certFile, 'certificate', reader, false);
  try {
    tls.createSecureContext({ cert, key });
  } catch (err) {
    const why = (err as Error).message;
    if (/key values mismatch/i.test(why)) {
      throw new ConfigError(`TLS key ${keyFile} does not belong to certificate ${certFile}: refused`);
    }
    throw new ConfigError(`TLS certificate ${certFile} and key ${keyFile} are not usable: ${why}`);
  }
  let x509: crypto.X509Certificate;
  try {
    x509 = new crypto.X509Certificate(cert);
  } catch (err) {
    throw new ConfigError(`TLS certificate ${certFile} is not usable: ${(err as Error).message}`);
  }
  const notAfter = Date.parse(x509.validTo);
  return {
    cert,
    key,
    status: { subject: oneLineSubject(x509.subject), notAfter: new Date(notAfter).toISOString(), fingerprint: x509.fingerprint256 },
    notAfter: Math.floor(notAfter / 1000),
  };
}

/** The same pair, byte for byte: a reload that finds it changes nothing about TLS. */
export function samePair(a: CertificatePair | null, b: CertificatePair | null): boolean {
  return a?.cert === b?.cert && a?.key === b?.key;
}
