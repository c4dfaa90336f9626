/**
 * HTTP hardening shared by every route: security headers, the Host / Origin policy (DNS rebinding and
 * cross-site requests), CORS preflight answers, request ids and log-field escaping. Pure functions; the
 * Hono middleware that applies them lives in `app.ts`.
 */

/** Added to every response (the chat page's own CSP gets `frame-ancestors 'none'` merged in). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};
export const FRAME_ANCESTORS = "frame-ancestors 'none'";

/** `csp` with `frame-ancestors 'none'` added unless it already says something about frame-ancestors. */
export function withFrameAncestors(csp: string | null): string {
  if (csp === null || csp.trim() === '') return FRAME_ANCESTORS;
  if (/(^|;)\s*frame-ancestors\s/i.test(csp)) return csp;
  return `${csp.replace(/[;\s]+$/, '')}; ${FRAME_ANCESTORS}`;
}

/** Host names always allowed in the Host header (any port). */
export const DEFAULT_ALLOWED_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

/** A host name as compared: lower case, IPv6 addresses in brackets. */
export function normalizeHostName(name: string): string {
  const h = name.trim().toLowerCase();
  return h.includes(':') && !h.startsWith('[') ? `[${h}]` : h;
}

/** The host name of a Host header value (`[::1]:8000` → `[::1]`, `Example.com:80` → `example.com`); null if malformed. */
export function hostHeaderName(value: string): string | null {
  const v = value.trim().toLowerCase();
  const m = /^(\[[0-9a-f:.]+\]|[^\s:[\]/@]+)(?::\d{1,5})?$/.exec(v);
  return m ? m[1] : null;
}

/** The origin as compared (`scheme://host[:port]`, lower case), or null when it is not a URL origin (e.g. "null"). */
export function normalizeOrigin(origin: string): string | null {
  try {
    const u = new URL(origin.trim());
    return u.origin === 'null' ? null : u.origin.toLowerCase();
  } catch {
    return null;
  }
}

export interface HostPolicy {
  /** Whether a request with this Host header (undefined: none sent) may be served. */
  hostAllowed(host: string | undefined): boolean;
  /** Whether a request carrying this Origin header is same-origin or from a listed origin. */
  originAllowed(origin: string, host: string | undefined): boolean;
  /** Whether the origin is a listed cross origin (responses then carry Access-Control-Allow-Origin). */
  isListedCrossOrigin(origin: string, host: string | undefined): boolean;
}

/**
 * `allowedHosts`: extra host names (added to localhost, 127.0.0.1 and [::1]); `*` allows any.
 * `allowedOrigins`: cross origins allowed to call the API (`http://app.example:3000`); `*` allows any.
 * A missing Host header is allowed (only non-browser HTTP/1.0 clients omit it; browsers always send it).
 */
export function hostPolicy(allowedHosts: readonly string[] = [], allowedOrigins: readonly string[] = []): HostPolicy {
  const anyHost = allowedHosts.some((h) => h.trim() === '*');
  const hosts = new Set([...DEFAULT_ALLOWED_HOSTS, ...allowedHosts].map(normalizeHostName));
  const anyOrigin = allowedOrigins.some((o) => o.trim() === '*');
  const origins = new Set(allowedOrigins.map((o) => normalizeOrigin(o)).filter((o): o is string => o !== null));
  const sameOrigin = (origin: string, host: string | undefined): boolean => {
    if (host === undefined) return false;
    try {
      return new URL(origin.trim()).host.toLowerCase() === host.trim().toLowerCase();
    } catch {
      return false;
    }
  };
  const listed = (origin: string): boolean => {
    const o = normalizeOrigin(origin);
    return anyOrigin ? o !== null : o !== null && origins.has(o);
  };
  return {
    hostAllowed(host) {
      if (host === undefined) return true;
      if (anyHost) return true;
      const name = hostHeaderName(host);
      return name !== null && hosts.has(name);
    },
    originAllowed(origin, host) {
      return sameOrigin(origin, host) || listed(origin);
    },
    isListedCrossOrigin(origin, host) {
      return !sameOrigin(origin, host) && listed(origin);
    },
  };
}

/** CORS preflight and response headers. */
export const CORS_ALLOW_METHODS = 'GET, POST, OPTIONS';
export const CORS_ALLOW_HEADERS = 'authorization, content-type, x-request-id';
export const CORS_EXPOSE_HEADERS = 'x-request-id, retry-after';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's X-Request-Id when it is a safe token (letters, digits, `._:-`, 1–128 chars), else a fresh one. */
export function requestId(incoming: string | undefined, fresh: () => string): string {
  return incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : fresh();
}

/**
 * A value safe to put in a one-line log: control characters (C0, DEL, C1) and the Unicode line
 * separators escaped (`\n`, `\r`, `\t`, `\xNN`, `\u2028`), backslashes doubled, so a request can neither
 * forge a log line nor send terminal escape sequences.
 */
export function escapeLogField(s: string): string {
  return s.replace(/[\\\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (ch) => {
    switch (ch) {
      case '\\': return '\\\\';
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\t': return '\\t';
    }
    const code = ch.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}
