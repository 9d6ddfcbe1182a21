/**
 * Working together on the page (packages/page: peers-view, undo-stack,
 * stroke-visibility, eraser-input) in Debian's Chromium, against a real
 * smegchat of two workers, each page on its own worker: a pointer moving on
 * one page is seen, labelled, on the other; Ctrl+Z on one page takes that
 * user's own line off the other page and Ctrl+Shift+Z brings it back, also
 * after a reload; the eraser removes the strokes it touches for everyone
 * and its undo brings them back. What is shown is read from the other
 * page's own canvas, in board coordinates.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { boardToClient, choosePen, drawStroke, inkAt, mouseDrag, openBoard, type BoardPage } from './lib/browser.js';
import { REPO_ROOT } from './lib/scratch.js';
import { line, noErrors, openOnOtherWorker, startWithBrowser, type Pt } from './lib/board-pages.js';

const RED = '#e03131';
const BLUE = '#1971c2';

/** Draws a line slowly enough that it goes out as several pieces, and waits until it is confirmed. */
async function drawLine(p: BoardPage, color: string, a: Pt, b: Pt): Promise<void> {
  await choosePen(p, color, 10);
  await drawStroke(p, line(a, b, 12), 12);
  await p.waitFor('the line confirmed', (s) => s.pending.length === 0 && !s.drawing);
}

/** Waits until `p` shows (or does not show) `color` at board point `at`, the canvas fully painted. */
async function shows(p: BoardPage, at: Pt, color: string, want: boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const s = await p.state();
    if (s.backlog === 0 && (await inkAt(p, at[0], at[1], color)) === want) return;
    if (Date.now() > deadline) {
      await p.page.screenshot({ path: '/tmp/collab-fail.png' });
      throw new Error(
        `timed out waiting for ${what} (${color} at ${at} ${want ? 'shown' : 'gone'}): ${JSON.stringify({ ...s, created: 0, confirmed: s.confirmed.length })}`,
      );
    }
    await p.page.waitForTimeout(50);
  }
}

/** A smegchat of two workers, and two pages on `board`, one on each worker. */
async function twoPages(t: TestContext, board: string): Promise<[BoardPage, BoardPage]> {
  const { base, browser } = await startWithBrowser(t);
  const a = await openBoard(browser, base, board);
  return [a, await openOnOtherWorker(browser, base, board, a)];
}

describe('presence, undo, redo and the eraser in Chromium', () => {
  it("shows each page the other's pointer, labelled, where it is on the board, and drops it when the other leaves (screenshot: test/artifacts/two-peers.png)", async (t) => {
    const [a, b] = await twoPages(t, 'peers');
    await a.page.fill('#name', 'ada');
    await a.page.press('#name', 'Tab');
    await b.page.fill('#name', 'grace');
    await b.page.press('#name', 'Tab');
    await drawLine(a, RED, [300, 400], [900, 400]);
    // a's pointer rests at a board point: b sees it there, by name, at b's own zoom.
    await b.page.click('#zoom-in');
    const [x, y] = await boardToClient(a, 700, 300);
    await a.page.mouse.move(x - 40, y - 40);
    await a.page.mouse.move(x, y, { steps: 10 });
    const seen = await b.waitFor('a pointer seen on b', (s) => s.peers.some((p) => p.name === 'ada' && p.x === 700 && p.y === 300));
    assert.equal(seen.peers.length, 1, 'b is shown a, not itself');
    await a.waitFor('b named on a', (s) => s.peers.some((p) => p.name === 'grace'));
    const label = b.page.locator('.peer-cursor .peer-name', { hasText: 'ada' });
    await label.waitFor({ state: 'visible', timeout: 10_000 });
    const [bx, by] = await boardToClient(b, 700, 300);
    // Drawn where that board point is on b's screen (the arrow's tip at the point), once it has eased there.
    const cursor = b.page.locator('.peer-cursor', { hasText: 'ada' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const box = await cursor.boundingBox();
      if (box !== null && Math.abs(box.x - bx) < 3 && Math.abs(box.y - by) < 3) break;
      if (Date.now() > deadline) throw new Error(`a's pointer on b at ${JSON.stringify(box)}, expected ${bx},${by}`);
      await b.page.waitForTimeout(50);
    }
    await b.page.mouse.move(...(await boardToClient(b, 500, 600)));
    await a.waitFor('b pointer seen on a', (s) => s.peers.some((p) => p.name === 'grace' && p.x !== null));

    const dir = path.join(REPO_ROOT, 'test', 'artifacts');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'two-peers.png');
    await b.page.screenshot({ path: file });
    t.diagnostic(`screenshot: ${path.relative(REPO_ROOT, file)}`);

    await a.page.context().close();
    await b.waitFor('a gone from b', (s) => s.peers.length === 0);
    assert.equal(await b.page.locator('.peer-cursor').count(), 0);
    noErrors(b);
  });

  it("Ctrl+Z undoes the user's own whole line on every page, Ctrl+Shift+Z and Ctrl+Y redo it, also after a reload", async (t) => {
    const [a, b] = await twoPages(t, 'undo');
    const redAt: Pt = [400, 300];
    const blueAt: Pt = [400, 500];
    await drawLine(a, RED, [200, 300], [600, 300]);
    await drawLine(b, BLUE, [200, 500], [600, 500]);
    const pieces = (await a.state()).confirmed.filter((c) => c.t === 'stroke').length;
    await shows(b, redAt, RED, true, "a's line on b");

    await a.page.keyboard.press('Control+z');
    await shows(b, redAt, RED, false, "a's line undone, on b");
    await shows(b, blueAt, BLUE, true, "b's line untouched");
    const undo = (await b.state()).confirmed.at(-1)!;
    assert.equal(undo.t, 'undo', 'one undo message for the whole line');
    assert.ok(pieces > 2, `the lines went out in pieces (${pieces} strokes for two lines)`);
    assert.equal((await a.state()).canUndo, false, "b's line is not a's to undo");

    await a.page.keyboard.press('Control+Shift+z');
    await shows(b, redAt, RED, true, "a's line redone, on b");

    // A reload keeps the session, and with it the line: still a's to undo.
    await a.page.reload();
    await a.waitFor('the reloaded page live with the board', (s) => s.link === 'live' && s.strokes > 0 && s.backlog === 0);
    assert.equal((await a.state()).canUndo, true, 'the reloaded page knows its own line');
    await a.page.keyboard.press('Control+z');
    await shows(b, redAt, RED, false, "a's line undone after a's reload");
    await a.page.keyboard.press('Control+y');
    await shows(b, redAt, RED, true, 'redone with Ctrl+Y');

    // b's own undo, from its button, takes only b's line.
    await b.page.click('#undo');
    await shows(a, blueAt, BLUE, false, "b's line undone, on a");
    await shows(a, redAt, RED, true, "a's line stays");
    noErrors(a, b);
  });

  it('the eraser removes the strokes it touches for everyone, and its undo brings them back', async (t) => {
    const [a, b] = await twoPages(t, 'erase');
    const redAt: Pt = [400, 300];
    const blueAt: Pt = [400, 600];
    await drawLine(a, RED, [200, 300], [600, 300]);
    await drawLine(a, BLUE, [200, 600], [600, 600]);
    await shows(b, redAt, RED, true, "a's red line on b");

    // b erases a's red line (anyone may erase anything) with a drag across it.
    await b.page.click('#eraser');
    assert.equal((await b.state()).tool, 'erase');
    await mouseDrag(b, await boardToClient(b, 400, 250), await boardToClient(b, 400, 350), 10);
    await shows(a, redAt, RED, false, 'the red line erased, on a');
    await shows(a, blueAt, BLUE, true, 'the blue line, not touched, stays');
    const erase = (await a.state()).confirmed.at(-1)!;
    assert.equal(erase.t, 'erase');

    // a cannot undo b's erase (its Ctrl+Z takes a's own last line instead); b can.
    await b.page.keyboard.press('Control+z');
    await shows(a, redAt, RED, true, 'the erase undone by its sender, on a');
    await b.page.keyboard.press('Control+Shift+z');
    await shows(a, redAt, RED, false, 'the erase redone');
    noErrors(a, b);
  });
});
