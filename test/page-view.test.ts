/**
 * The page's view and export (packages/page: view-transform, view-gestures,
 * board-canvas, board-export) in Debian's Chromium, against a real smegchat
 * of two workers: zooming and panning one page changes nothing any other
 * page shows, input goes through the view into the same board coordinates,
 * and the exported PNG and SVG hold the confirmed strokes at the board's
 * extent. What is drawn is compared in board coordinates: pixels sampled
 * through each page's own view, and the pixels of the exported PNG, decoded
 * here.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  boardToClient,
  choosePen,
  drawStroke,
  exportExtent,
  exportFile,
  inkAt,
  mouseDrag,
  openBoard,
  pinchGesture,
  type BoardPage,
  type Extent,
} from './lib/browser.js';
import {
  line,
  noErrors,
  openOnOtherWorker,
  seedBoard,
  seededStroke,
  startWithBrowser,
  waitForIds,
  workerPid,
  type Pt,
} from './lib/board-pages.js';
import { decodePng, hasInk, pixelAt, type Image } from './lib/png.js';

/** Waits until the page shows the whole board at its current view, and says what that view is. */
async function settled(p: BoardPage, what: string): Promise<{ scale: number; x: number; y: number }> {
  return (await p.waitFor(`${what}: the board redrawn at the new view`, (s) => s.backlog === 0 && !s.drawing)).view;
}

function near(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, expected ${expected} ± ${tolerance}`);
}

/** The exported PNG, decoded, with the extent the page says it covers. */
async function exportedPng(p: BoardPage, board: string): Promise<{ img: Image; extent: Extent }> {
  const extent = await exportExtent(p);
  const { name, data } = await exportFile(p, 'png');
  assert.equal(name, `${board}.png`);
  const img = decodePng(data);
  assert.equal(img.width, Math.round((extent.right - extent.left) * extent.scale), 'the PNG is as wide as the extent');
  assert.equal(img.height, Math.round((extent.bottom - extent.top) * extent.scale), 'the PNG is as high as the extent');
  return { img, extent };
}

/** Whether the PNG has `color` at board point `at`. */
function pngInk(png: { img: Image; extent: Extent }, at: Pt, color: string): boolean {
  const { img, extent: e } = png;
  return hasInk(img, (at[0] - e.left) * e.scale, (at[1] - e.top) * e.scale, color);
}

describe('pan, zoom and export in Chromium', () => {
  it('zooms and pans one page without changing what the other page shows, and draws through the view', async (t) => {
    const { base, browser } = await startWithBrowser(t);
    const a = await openBoard(browser, base, 'view', { width: 1280, height: 800 });
    // The page that moves its view takes touch too, for the pinch.
    const b = await openOnOtherWorker(browser, base, 'view', a, { width: 1024, height: 700 }, { hasTouch: true });
    t.diagnostic(`pages on workers ${(await a.state()).worker} and ${(await b.state()).worker}`);

    await choosePen(a, '#e03131', 10);
    await drawStroke(a, line([200, 300], [1400, 300]));
    await choosePen(a, '#1971c2', 24);
    await drawStroke(a, line([500, 150], [500, 850]));
    const first = (await a.waitFor('the strokes confirmed', (s) => s.pending.length === 0 && !s.drawing)).created;
    await waitForIds(b, first, 'the page that will move its view');
    const aView = await settled(a, 'the drawing page');
    const aBefore = await exportedPng(a, 'view');

    // The wheel zooms about the pointer: the board point under it stays there.
    const start = await settled(b, 'before zooming');
    // Whole pixels: Chromium gives wheel events integer positions.
    const [px, py] = (await boardToClient(b, 500, 300)).map(Math.round) as [number, number];
    await b.page.mouse.move(px, py);
    for (let i = 0; i < 3; i++) await b.page.mouse.wheel(0, -200);
    const zoomed = (await b.waitFor('zoomed in by the wheel', (s) => s.view.scale > start.scale * 2 && s.backlog === 0)).view;
    const canvasBox = (await b.page.locator('#board-overlay').boundingBox())!;
    const under = (v: typeof start) => [(px - canvasBox.x - v.x) / v.scale, (py - canvasBox.y - v.y) / v.scale];
    near(under(zoomed)[0]!, under(start)[0]!, 0.01, 'the board point under the wheel, x');
    near(under(zoomed)[1]!, under(start)[1]!, 0.01, 'the board point under the wheel, y');
    assert.ok(await inkAt(b, 500, 300, '#1971c2', 4), 'the crossing is painted at the new zoom');
    assert.ok(await inkAt(b, 450, 300, '#e03131', 4), 'the red line is painted at the new zoom');

    // Space + drag pans, and draws nothing.
    const created = (await b.state()).created.length;
    await b.page.keyboard.down('Space');
    await mouseDrag(b, [px, py], [px - 150, py - 80]);
    await b.page.keyboard.up('Space');
    const spaced = await settled(b, 'after Space + drag');
    near(spaced.x - zoomed.x, -150, 0.5, 'Space + drag pans x');
    near(spaced.y - zoomed.y, -80, 0.5, 'Space + drag pans y');
    assert.equal(spaced.scale, zoomed.scale);

    // The hand tool pans with a plain drag.
    await b.page.click('#hand');
    assert.equal((await b.state()).tool, 'pan');
    await mouseDrag(b, [500, 400], [600, 450]);
    await b.page.click('#hand');
    const handed = await settled(b, 'after the hand tool');
    near(handed.x - spaced.x, 100, 0.5, 'the hand pans x');
    near(handed.y - spaced.y, 50, 0.5, 'the hand pans y');
    assert.equal((await b.state()).tool, 'draw');

    // Two fingers pinch: twice as far apart, twice the zoom, and no stroke.
    await pinchGesture(
      b,
      [
        [450, 350],
        [550, 350],
      ],
      [
        [400, 350],
        [600, 350],
      ],
    );
    const pinched = await settled(b, 'after the pinch');
    near(pinched.scale / handed.scale, 2, 0.01, 'the pinch zoom');
    assert.equal((await b.state()).created.length, created, 'panning and pinching drew nothing');

    // A stroke drawn on the zoomed page lands in board coordinates: the
    // unzoomed page paints it where the zoomed one does.
    const [cx, cy] = [(500 - pinched.x) / pinched.scale, (350 - pinched.y) / pinched.scale];
    const violet = line([cx - 20, cy - 10], [cx + 20, cy - 10]);
    await choosePen(b, '#7048e8', 4);
    await drawStroke(b, violet);
    const mine = (await b.waitFor('the zoomed stroke confirmed', (s) => s.pending.length === 0 && !s.drawing)).created;
    // Confirmed is not yet painted on the confirmed-strokes canvas: that is the next frame's.
    await waitForIds(b, mine, 'the zoomed page');
    await waitForIds(a, mine, 'the page that did not move');
    for (const p of [violet[1]!, violet[4]!]) {
      assert.ok(await inkAt(b, p[0], p[1], '#7048e8', 4), `violet at ${p} on the zoomed page`);
      assert.ok(await inkAt(a, p[0], p[1], '#7048e8', 4), `violet at ${p} on the other page`);
    }

    // The other page never moved, and both pages hold the same board.
    assert.deepEqual(await settled(a, 'the drawing page, after'), aView, "the other page's view is its own");
    const aAfter = await exportedPng(a, 'view');
    const bAfter = await exportedPng(b, 'view');
    assert.deepEqual(bAfter.extent, aAfter.extent, 'the same extent whatever the zoom');
    assert.ok(Buffer.from(bAfter.img.rgba).equals(Buffer.from(aAfter.img.rgba)), 'the same pixels whatever the zoom');
    assert.ok(pngInk(aAfter, violet[2]!, '#7048e8') && !pngInk(aBefore, violet[2]!, '#7048e8'), 'only the new stroke added');
    assert.ok(pngInk(aBefore, [800, 300], '#e03131') && pngInk(aAfter, [800, 300], '#e03131'));

    // Fit brings every stroke back on screen.
    await b.page.click('#fit');
    await settled(b, 'after Fit');
    for (const [x, y] of [
      [aAfter.extent.left, aAfter.extent.top],
      [aAfter.extent.right, aAfter.extent.bottom],
    ] as const) {
      const [sx, sy] = await boardToClient(b, x, y);
      assert.ok(
        sx >= canvasBox.x && sx <= canvasBox.x + canvasBox.width && sy >= canvasBox.y && sy <= canvasBox.y + canvasBox.height,
        `${x},${y} on screen after Fit`,
      );
    }
    assert.ok(await inkAt(b, 1300, 300, '#e03131', 4), 'the red line is painted after Fit');
    noErrors(a, b);
  });

  it('exports the confirmed strokes as PNG and SVG at the board extent, beyond the home sheet, without pending ones', async (t) => {
    const { base, browser, server } = await startWithBrowser(t);
    const a = await openBoard(browser, base, 'export');
    const b = await openOnOtherWorker(browser, base, 'export', a);
    await choosePen(a, '#e03131', 10);
    await drawStroke(a, line([200, 200], [1400, 200]));
    await choosePen(a, '#1971c2', 24);
    await drawStroke(a, line([300, 300], [300, 900]));
    // Out of the home sheet: zoom out (the button) and draw beyond it.
    for (let i = 0; i < 4; i++) await a.page.click('#zoom-out');
    await settled(a, 'zoomed out');
    await choosePen(a, '#1e1e24', 10);
    await drawStroke(a, line([1800, 1200], [2200, 1200]));
    const confirmed = (await a.waitFor('the strokes confirmed', (s) => s.pending.length === 0 && !s.drawing)).created;
    await waitForIds(b, confirmed, 'the other page');

    // A stroke the server has not confirmed: its worker is frozen.
    const pid = await workerPid(server, (await a.state()).worker!);
    process.kill(pid, 'SIGSTOP');
    let png: { img: Image; extent: Extent };
    let svg: string;
    let strokes: number;
    try {
      await choosePen(a, '#2f9e44', 10);
      await drawStroke(a, line([600, 600], [1000, 600]));
      await a.waitFor('the green stroke pending', (s) => s.pending.length > 0 && !s.drawing);
      png = await exportedPng(a, 'export');
      const file = await exportFile(a, 'svg');
      assert.equal(file.name, 'export.svg');
      svg = file.data.toString('utf8');
      // Read before the thaw, which confirms the pending stroke.
      strokes = (await a.state()).confirmed.filter((c) => c.t === 'stroke').length;
    } finally {
      process.kill(pid, 'SIGCONT');
    }

    const e = png.extent;
    assert.ok(e.left <= 200 - 5 && e.right >= 2200 + 5 && e.bottom >= 1200 + 5, `the extent covers every stroke: ${JSON.stringify(e)}`);
    assert.equal(e.scale, 1, 'one pixel per board unit');
    for (const [at, color] of [
      [[200, 200], '#e03131'],
      [[800, 200], '#e03131'],
      [[300, 600], '#1971c2'],
      [[2000, 1200], '#1e1e24'],
    ] as const) {
      assert.ok(pngInk(png, at, color), `${color} at ${at} in the PNG`);
    }
    assert.ok(!pngInk(png, [800, 600], '#2f9e44'), 'the pending stroke is not exported');
    assert.equal(pixelAt(png.img, (1000 - e.left) * e.scale, (900 - e.top) * e.scale), '#ffffff', 'paper where nothing is drawn');

    assert.match(svg, new RegExp(`viewBox="${e.left} ${e.top} ${e.right - e.left} ${e.bottom - e.top}"`), 'the SVG covers the extent');
    const paths = [...svg.matchAll(/<path d="M[^"]+" stroke="(#[0-9a-f]{6})" stroke-width="([\d.]+)"\/>/g)];
    assert.equal(paths.length, strokes, 'one path per confirmed stroke');
    assert.deepEqual(new Set(paths.map((m) => m[1])), new Set(['#e03131', '#1971c2', '#1e1e24']));
    assert.doesNotMatch(svg, /#2f9e44/, 'the pending stroke is not in the SVG');

    // Once confirmed, it is.
    await a.waitFor('the green stroke confirmed after the thaw', (s) => s.pending.length === 0, 30_000);
    await settled(a, 'after the thaw');
    assert.ok(pngInk(await exportedPng(a, 'export'), [800, 600], '#2f9e44'), 'the confirmed stroke is exported');
    noErrors(a, b);
  });

  it('shows a 3,000-stroke board and redraws it whole at every zoom and pan', async (t) => {
    const { base, browser, server } = await startWithBrowser(t, ['--rate', '100000', '--rate-burst', '100000']);
    const n = 3000;
    await seedBoard(server.port, 'big', n);

    // From navigation to the last replayed stroke drawn, timed in the page, and the bytes it loaded.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    await page.addInitScript(`(() => {
      const tick = () => {
        const s = window.smegchat && window.smegchat.state();
        if (s && s.strokes === ${n} && s.backlog === 0) window.__shownAt = performance.now();
        else requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    })()`);
    const sizes: Promise<number>[] = [];
    page.on('requestfinished', (r) => sizes.push(r.sizes().then((s) => s.responseBodySize + s.responseHeadersSize)));
    // Serialised into the page: self-contained.
    const shownAt = () => (globalThis as unknown as { __shownAt?: number }).__shownAt;
    await page.goto(`${base}/b/big`);
    await page.waitForFunction(shownAt, null, { timeout: 60_000, polling: 100 });
    const shown = (await page.evaluate(shownAt))!;
    await page.waitForLoadState('networkidle', { timeout: 15_000 });
    const bytes = (await Promise.all(sizes)).reduce((x, y) => x + y, 0);
    t.diagnostic(`${n} strokes shown ${Math.round(shown)} ms after navigation; the page loaded ${(bytes / 1024).toFixed(1)} KB over HTTP`);
    await context.close();

    const big = await openBoard(browser, base, 'big');
    await big.waitFor(`${n} strokes painted`, (s) => s.strokes === n && s.backlog === 0, 60_000);
    // The bottom stroke of the fifth column, on screen at the home fit, and the one above it.
    const mark = seededStroke(5 * 480 - 1);
    const above = seededStroke(5 * 480 - 2);
    const markAt = mark.points[12]!;
    const paintedAt = async (s: typeof mark, what: string) =>
      assert.ok(await inkAt(big, s.points[12]![0], s.points[12]![1], s.color, 4), `${what}: ${s.color} at ${s.points[12]}`);
    await paintedAt(mark, 'at the home fit');

    const times: number[] = [];
    const redrawn = async (what: string, moved: (v: { scale: number; x: number; y: number }) => boolean) => {
      const s = await big.waitFor(`redrawn ${what}`, (s) => s.backlog === 0 && moved(s.view), 30_000);
      times.push(s.redrawMs ?? NaN);
      return s.view;
    };
    const [x0, y0] = await boardToClient(big, markAt[0], markAt[1]);
    await big.page.mouse.move(x0, y0);
    for (let i = 0; i < 4; i++) {
      const before = (await big.state()).view.scale;
      await big.page.mouse.wheel(0, -200);
      await redrawn(`after zoom ${i + 1}`, (v) => v.scale > before);
    }
    await paintedAt(mark, 'zoomed in');
    const zoomed = (await big.state()).view;
    await big.page.keyboard.down('Space');
    await mouseDrag(big, [x0, y0], [x0 - 200, y0 - 100]);
    await big.page.keyboard.up('Space');
    await redrawn('after a pan', (v) => v.x < zoomed.x);
    await paintedAt(above, 'after the pan');
    for (let i = 0; i < 12; i++) await big.page.mouse.wheel(0, 200);
    await redrawn('zoomed out past the board', (v) => v.scale < zoomed.scale / 10);
    await big.page.click('#fit');
    await redrawn('after Fit', (v) => v.scale > zoomed.scale / 10);
    await paintedAt(seededStroke(0), 'the first stroke after Fit');
    await paintedAt(seededStroke(n - 1), 'the last stroke after Fit');
    assert.equal((await big.state()).strokes, n);
    t.diagnostic(`full redraws of ${n} strokes (ms of drawing): ${times.map((m) => m.toFixed(1)).join(', ')}`);
    noErrors(big);
  });
});
