/**
 * Driving the whiteboard page in Debian's Chromium through playwright-core.
 * Every wait here is for a condition, bounded: a test fails with what it was
 * waiting for, never passes or fails on how fast the machine happens to be.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';

// The browser side of page.evaluate, typed just enough: the tests compile
// without the DOM library (it would change Node's globals for every test).
interface CanvasLike {
  width: number;
  getBoundingClientRect(): { left: number; top: number; width: number };
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null;
}
declare const window: {
  smegchat?: { state(): unknown; boardToClient(x: number, y: number): [number, number]; exportExtent(): Extent };
};
declare const document: { getElementById(id: string): unknown };

type Pt = readonly [number, number];

export const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

/** What window.smegchat.state() returns (packages/page/src/main.ts), as far as tests read it. */
export interface PageState {
  board: string;
  link: 'connecting' | 'live' | 'waiting';
  worker: number | null;
  epoch: string | null;
  head: number | null;
  lastSeq: number | null;
  welcomes: number;
  resets: number;
  lastClose: { code: number; reason: string } | null;
  confirmed: { seq: number; id: string; t: string }[];
  pending: string[];
  created: string[];
  resent: number;
  strokes: number;
  backlog: number;
  drawing: boolean;
  name: string;
  /** Where the board is on this page's screen: CSS pixels = board units × scale + (x, y). */
  view: { scale: number; x: number; y: number };
  tool: 'draw' | 'pan' | 'erase';
  redrawMs: number | null;
  /** Confirmed strokes shown (not undone, not erased). */
  visible: number;
  canUndo: boolean;
  canRedo: boolean;
  /** The others on the board, as presence told. */
  peers: { who: string; name: string; x: number | null; y: number | null }[];
}

/** The board rectangle a page's export covers, and the PNG's pixels per board unit. */
export interface Extent {
  left: number;
  top: number;
  right: number;
  bottom: number;
  scale: number;
}

/** A page on a board, with what it logged, for failure messages. */
export interface BoardPage {
  readonly page: Page;
  readonly errors: string[];
  state(): Promise<PageState>;
  /** Waits until `pred` holds for the page's state; fails naming `what`, with the last state seen. */
  waitFor(what: string, pred: (s: PageState) => boolean, ms?: number): Promise<PageState>;
}

/**
 * Launches Chromium headless with a fresh profile (playwright's launch makes a
 * new temporary user-data dir each time) and closes it when the test ends.
 * Flags: root needs --no-sandbox; the rest keep the browser from talking to
 * anything but the loopback server under test.
 */
export async function launchBrowser(t: TestContext): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Background tabs would otherwise throttle timers and animation frames.
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
    ],
  });
  t.after(() => browser.close());
  return browser;
}

/**
 * Opens the page for `board` (null: the bare `/`) in its own browser context
 * (its own storage, like another person's browser) and waits until it is live.
 */
export async function openBoard(
  browser: Browser,
  baseUrl: string,
  board: string | null,
  viewport = { width: 1280, height: 800 },
  device: { deviceScaleFactor?: number; hasTouch?: boolean; isMobile?: boolean } = {},
): Promise<BoardPage> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, ...device });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(board === null ? `${baseUrl}/` : `${baseUrl}/b/${board}`);
  const bp: BoardPage = {
    page,
    errors,
    state: () => page.evaluate(() => window.smegchat!.state() as unknown as PageState),
    async waitFor(what, pred, ms = 15_000) {
      const deadline = Date.now() + ms;
      let last: PageState | null = null;
      for (;;) {
        last = await page.evaluate(() => (window.smegchat ? (window.smegchat.state() as unknown as PageState) : null));
        if (last !== null && pred(last)) return last;
        if (Date.now() > deadline) {
          const brief = last && { ...last, confirmed: `${last.confirmed.length} messages`, created: `${last.created.length} ids` };
          throw new Error(
            `timed out after ${ms} ms waiting for ${what}; page state: ${JSON.stringify(brief)}; errors: ${errors.join(' | ')}`,
          );
        }
        await page.waitForTimeout(50);
      }
    },
  };
  await bp.waitFor('the page to be live', (s) => s.link === 'live');
  return bp;
}

/** Where a board point is in the page's viewport (CSS pixels). */
export function boardToClient(bp: BoardPage, x: number, y: number): Promise<[number, number]> {
  return bp.page.evaluate(([bx, by]) => window.smegchat!.boardToClient(bx, by), [x, y] as const);
}

/**
 * Draws a stroke through board points with real mouse events (pointerdown,
 * pointermove, pointerup as the browser makes them), `steps` moves between
 * successive points.
 */
export async function drawStroke(bp: BoardPage, points: readonly (readonly [number, number])[], steps = 4): Promise<void> {
  const first = points[0];
  if (first === undefined) return;
  const [x0, y0] = await boardToClient(bp, first[0], first[1]);
  await bp.page.mouse.move(x0, y0);
  await bp.page.mouse.down();
  for (const p of points.slice(1)) {
    const [x, y] = await boardToClient(bp, p[0], p[1]);
    await bp.page.mouse.move(x, y, { steps });
  }
  await bp.page.mouse.up();
}

/** Picks a pen on the toolbar, as a user would. */
export async function choosePen(bp: BoardPage, color: string, width: number): Promise<void> {
  await bp.page.click(`#swatches button[data-color="${color}"]`);
  await bp.page.click(`#widths button[data-width="${width}"]`);
}

/**
 * Reads the confirmed-strokes canvas around a board point and says whether
 * `color` is painted there (within a small tolerance, for anti-aliasing).
 * This is the canvas other people's strokes are drawn on; a page's own
 * unconfirmed strokes are on the overlay above it.
 */
export function inkAt(bp: BoardPage, x: number, y: number, color: string, radius = 3): Promise<boolean> {
  return bp.page.evaluate(
    ([bx, by, hex, r]) => {
      const canvas = document.getElementById('board-base') as CanvasLike;
      const rect = canvas.getBoundingClientRect();
      const [cx, cy] = window.smegchat!.boardToClient(bx, by);
      const k = canvas.width / rect.width;
      const px = Math.round((cx - rect.left) * k);
      const py = Math.round((cy - rect.top) * k);
      const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      const data = canvas.getContext('2d')!.getImageData(px - r, py - r, 2 * r + 1, 2 * r + 1).data;
      for (let i = 0; i < data.length; i += 4) {
        if (want.every((v, j) => Math.abs(data[i + j]! - v) <= 24)) return true;
      }
      return false;
    },
    [x, y, color, radius] as const,
  );
}

/** Sends a chat line from the panel, as a user would. */
export async function sayInChat(bp: BoardPage, text: string): Promise<void> {
  await bp.page.fill('#chat-input', text);
  await bp.page.press('#chat-input', 'Enter');
}

/** The chat panel's lines, as "name: text". */
export function chatLines(bp: BoardPage): Promise<string[]> {
  return bp.page.$$eval('#chat-lines li:not(.note)', (lis) =>
    lis.map((li) => `${li.querySelector('.who')?.textContent ?? ''}: ${li.querySelector('.what')?.textContent ?? ''}`),
  );
}

/** Waits until the chat panel shows exactly `want` (as "name: text"), bounded. */
export async function waitForChat(bp: BoardPage, want: readonly string[], ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  let lines: string[] = [];
  while (Date.now() <= deadline) {
    lines = await chatLines(bp);
    if (lines.length === want.length && lines.every((l, i) => l === want[i])) return;
    await bp.page.waitForTimeout(50);
  }
  throw new Error(`timed out after ${ms} ms waiting for the chat to show ${JSON.stringify(want)}; it shows ${JSON.stringify(lines)}`);
}

/** Ids of sequenced strokes on a page, with how many times each was seen. */
export function strokeCounts(s: PageState): Map<string, number> {
  const counts = new Map<string, number>();
  for (const c of s.confirmed) if (c.t === 'stroke') counts.set(c.id, (counts.get(c.id) ?? 0) + 1);
  return counts;
}

/**
 * Arms a stroke that the page draws the moment its link goes down: a
 * MutationObserver on the connection indicator dispatches pointer events on
 * the board from the same task that closed the link. So "a stroke drawn
 * during the outage" is certain, not a race between the test and a fast
 * reconnect. Read back what it drew with {@link outageStroke}.
 */
export async function armOutageStroke(bp: BoardPage, points: readonly (readonly [number, number])[]): Promise<void> {
  await bp.page.evaluate(`(() => {
    const pts = ${JSON.stringify(points)};
    const st = window.smegchat;
    const status = document.getElementById('status');
    const canvas = document.getElementById('board-overlay');
    const out = { fired: false, ids: [], link: null };
    window.__outageStroke = out;
    const obs = new MutationObserver(() => {
      if (out.fired || st.state().link === 'live') return;
      out.fired = true;
      obs.disconnect();
      out.link = st.state().link;
      const before = st.state().created.length;
      const fire = (type, p) => {
        const [x, y] = st.boardToClient(p[0], p[1]);
        canvas.dispatchEvent(new PointerEvent(type, { clientX: x, clientY: y, pointerId: 77, pointerType: 'pen',
          isPrimary: false, button: 0, buttons: type === 'pointerup' ? 0 : 1, bubbles: true, cancelable: true }));
      };
      fire('pointerdown', pts[0]);
      for (const p of pts.slice(1)) fire('pointermove', p);
      fire('pointerup', pts[pts.length - 1]);
      out.ids = st.state().created.slice(before);
    });
    obs.observe(status, { attributes: true, attributeFilter: ['data-state'] });
  })()`);
}

/** What an armed outage stroke did: whether it fired, the link state it saw, the ids it made. */
export function outageStroke(bp: BoardPage): Promise<{ fired: boolean; link: string | null; ids: string[] }> {
  return bp.page.evaluate('window.__outageStroke') as Promise<{ fired: boolean; link: string | null; ids: string[] }>;
}

/**
 * Draws a stroke with a finger: real touch input through the DevTools
 * protocol (what a phone's touchscreen produces), which the page receives as
 * pointer events of type "touch". The page must be opened with touch enabled.
 */
export async function touchStroke(bp: BoardPage, points: readonly (readonly [number, number])[]): Promise<void> {
  const cdp = await bp.page.context().newCDPSession(bp.page);
  try {
    for (const [i, p] of points.entries()) {
      const [x, y] = await boardToClient(bp, p[0], p[1]);
      await cdp.send('Input.dispatchTouchEvent', { type: i === 0 ? 'touchStart' : 'touchMove', touchPoints: [{ x, y, id: 1 }] });
    }
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  } finally {
    await cdp.detach();
  }
}

/**
 * Two fingers, through the DevTools protocol as a touchscreen makes them:
 * down together at `from`, moved in `steps` to `to`, lifted. Client pixels.
 */
export async function pinchGesture(bp: BoardPage, from: readonly [Pt, Pt], to: readonly [Pt, Pt], steps = 8): Promise<void> {
  const cdp = await bp.page.context().newCDPSession(bp.page);
  const at = (k: number) =>
    [0, 1].map((f) => ({
      x: from[f]![0] + ((to[f]![0] - from[f]![0]) * k) / steps,
      y: from[f]![1] + ((to[f]![1] - from[f]![1]) * k) / steps,
      id: f + 1,
    }));
  try {
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: at(0) });
    for (let k = 1; k <= steps; k++) await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: at(k) });
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  } finally {
    await cdp.detach();
  }
}

/** A mouse drag between two client positions, in `steps` moves. */
export async function mouseDrag(bp: BoardPage, from: Pt, to: Pt, steps = 8): Promise<void> {
  await bp.page.mouse.move(from[0], from[1]);
  await bp.page.mouse.down();
  await bp.page.mouse.move(to[0], to[1], { steps });
  await bp.page.mouse.up();
}

/** Clicks an export button, as a user would, and reads the file the browser downloads. */
export async function exportFile(bp: BoardPage, kind: 'png' | 'svg'): Promise<{ name: string; data: Buffer }> {
  const [download] = await Promise.all([bp.page.waitForEvent('download', { timeout: 15_000 }), bp.page.click(`#export-${kind}`)]);
  const file = await download.path();
  return { name: download.suggestedFilename(), data: readFileSync(file) };
}

export function exportExtent(bp: BoardPage): Promise<Extent> {
  return bp.page.evaluate(() => window.smegchat!.exportExtent());
}
