/**
 * The whiteboard page: wires the board canvas, pointer input, chat panel and
 * the connection together. Loaded as an ES module; `@smegchat/protocol` is
 * mapped by the page's import map to the protocol package the server runs,
 * so the page validates with the very same code and limits.
 */
import { DEFAULT_LIMITS, type SequencedMessage, type StrokeMessage } from '@smegchat/protocol';
import { BoardCanvas } from './board-canvas.js';
import { BoardClient, type ClientSnapshot } from './board-client.js';
import { download, exportExtent, renderPng, renderSvg, type Extent } from './board-export.js';
import { boardFromLocation } from './board-name.js';
import { ChatPanel } from './chat-panel.js';
import { EraserInput } from './eraser-input.js';
import { PeersView, type PeerState } from './peers-view.js';
import { BOARD_HEIGHT, BOARD_WIDTH } from './geometry.js';
import { PointerInput, type Pen } from './pointer-input.js';
import type { StrokeLike } from './render.js';
import { StrokeVisibility } from './stroke-visibility.js';
import { UndoStack } from './undo-stack.js';
import { boardKeys, ViewGestures, ZOOM_STEP, type Tool } from './view-gestures.js';
import { toBoard, toScreen, type View } from './view-transform.js';

/** A read-only look inside, for tests and the curious; changes nothing. */
export interface DebugHook {
  state(): ClientSnapshot & {
    strokes: number;
    backlog: number;
    drawing: boolean;
    name: string;
    pen: Pen;
    view: View;
    tool: Tool;
    /** How long the last redraw of the whole board for a new view took (ms of drawing), null before any. */
    redrawMs: number | null;
    /** Confirmed strokes shown (not undone, not erased). */
    visible: number;
    canUndo: boolean;
    canRedo: boolean;
    /** The others on the board, as presence told. */
    peers: PeerState[];
  };
  /** Where a board point is on screen, in CSS pixels from the viewport's top left. */
  boardToClient(x: number, y: number): [number, number];
  /** The board rectangle an export covers, and its PNG's pixels per board unit. */
  exportExtent(): Extent;
  /** The home sheet, which a page fits on arrival. */
  readonly boardSize: readonly [number, number];
}

declare global {
  interface Window {
    smegchat?: DebugHook;
  }
}

const PEN_KEY = 'smegchat.pen';

function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`the page lacks #${id}`);
  return el;
}

const board = boardFromLocation();
document.title = `${board} · smegchat`;
byId('board-label', HTMLElement).textContent = board;

// ------------------------------------------------------------------ pen

let pen: Pen = loadPen();
const swatches = [...document.querySelectorAll<HTMLButtonElement>('#swatches button[data-color]')];
const widths = [...document.querySelectorAll<HTMLButtonElement>('#widths button[data-width]')];
const customColor = byId('custom-color', HTMLInputElement);

function showPen(): void {
  let matched = false;
  for (const b of swatches) {
    const on = b.dataset['color'] === pen.color;
    matched ||= on;
    b.setAttribute('aria-checked', String(on));
  }
  customColor.parentElement?.setAttribute('aria-checked', String(!matched));
  if (!matched) customColor.value = pen.color;
  for (const b of widths) b.setAttribute('aria-checked', String(Number(b.dataset['width']) === pen.width));
  document.documentElement.style.setProperty('--pen', pen.color);
}

function setPen(p: Partial<Pen>): void {
  pen = { ...pen, ...p };
  try {
    localStorage.setItem(PEN_KEY, JSON.stringify(pen));
  } catch {
    // Storage disabled: the pen is simply not remembered.
  }
  showPen();
}

function loadPen(): Pen {
  const fallback: Pen = { color: '#1e1e24', width: 4 };
  try {
    const raw: unknown = JSON.parse(localStorage.getItem(PEN_KEY) ?? 'null');
    if (typeof raw === 'object' && raw !== null) {
      const { color, width } = raw as Record<string, unknown>;
      if (typeof color === 'string' && /^#[0-9a-f]{6}$/i.test(color) && typeof width === 'number' && width > 0 && width <= 200) {
        return { color, width };
      }
    }
  } catch {
    // A corrupt or unavailable entry: start with the default pen.
  }
  return fallback;
}

// Set from script, not style attributes, so the page's CSP needs no 'unsafe-inline'.
for (const b of swatches) {
  b.style.setProperty('--c', b.dataset['color']!);
  b.addEventListener('click', () => setPen({ color: b.dataset['color']! }));
}
for (const b of widths) {
  // The dot shows the width, squeezed so the widest still fits its button.
  b.style.setProperty('--w', `${Math.round(2 + 3.2 * Math.sqrt(Number(b.dataset['width'])))}px`);
  b.addEventListener('click', () => setPen({ width: Number(b.dataset['width']) }));
}
customColor.addEventListener('input', () => setPen({ color: customColor.value }));
showPen();

// ------------------------------------------------------------------ board and link

// The handlers below refer to the canvas, input and chat made after them:
// they run only once client.start() (at the end) has opened the link.
const client = new BoardClient(board, {
  welcome(_w, wipe) {
    // A new connection is told everyone again, right after its replay.
    peers.clear();
    if (wipe) {
      canvas.clear();
      chat.reset();
      visibility.reset();
      undoStack.reset();
    }
  },
  message(m: SequencedMessage, mine: boolean) {
    if (m.t !== 'chat') queueMicrotask(showHint);
    undoStack.confirmed(m, mine);
    for (const [seq, hidden] of visibility.apply(m)) canvas.setHidden(seq, hidden);
    showHistory();
    switch (m.t) {
      case 'stroke':
        canvas.addConfirmed(m);
        if (mine) canvas.invalidateOverlay();
        break;
      case 'clear':
        canvas.clear();
        chat.note('The board was cleared');
        break;
      case 'chat':
        chat.add(m, mine);
        if (!mine) unread.bump();
        break;
    }
  },
  presence(p) {
    peers.apply(p);
  },
  refused(id, code, text) {
    if (id !== undefined) chat.refuse(id);
    // An erase shown at once but refused: its strokes come back.
    for (const seq of (id !== undefined && erasing.get(id)) || []) canvas.setHidden(seq, visibility.hidden(seq));
    if (id !== undefined) erasing.delete(id);
    canvas.invalidateOverlay();
    const told: Record<string, string> = {
      'board-full': 'This board is full: clear it to draw more.',
      'disk-full': 'The server has no room left for drawings: clearing this board frees some.',
    };
    toast(told[code] ?? text);
  },
  changed() {
    showStatus();
    showHint();
  },
});

function* overlayStrokes(): Generator<StrokeLike> {
  for (const m of client.pendingMessages()) if (m.t === 'stroke') yield m;
  yield* input.live();
}

const canvas = new BoardCanvas(byId('board', HTMLElement), overlayStrokes);
const gestures = new ViewGestures(canvas.overlay, canvas, showTool);
const visibility = new StrokeVisibility();
const undoStack = new UndoStack((id) => client.isMine(id));
/** The id each line's pieces share before their '.': what makes a line one undo step (undo-stack.ts). */
const lineIds = new Map<number, string>();
const input = new PointerInput(
  canvas.overlay,
  () => canvas.view,
  gestures,
  () => pen,
  (seg, line, piece) => {
    if (piece === 0) lineIds.set(line, client.nextId());
    const id = `${lineIds.get(line) ?? client.nextId()}.${piece}`;
    if (lineIds.size > 16) lineIds.delete(lineIds.keys().next().value!);
    const msg: StrokeMessage = { t: 'stroke', id, color: seg.color, width: seg.width, points: [...seg.points] };
    client.send(msg);
  },
  () => {
    canvas.invalidateOverlay();
    showHint();
  },
);

// ------------------------------------------------------------------ presence: who is here, and where

const peers = new PeersView(byId('board', HTMLElement), byId('peers', HTMLElement), () => canvas.view);
/** The pointer's latest board position, sent at most once an animation frame. */
let pointerAt: [number, number] | null = null;
canvas.overlay.addEventListener('pointermove', (e) => {
  const r = canvas.overlay.getBoundingClientRect();
  const first = pointerAt === null;
  pointerAt = toBoard(canvas.view, e.clientX - r.left, e.clientY - r.top);
  if (!first) return;
  requestAnimationFrame(() => {
    if (pointerAt === null) return;
    const [x, y] = pointerAt;
    pointerAt = null;
    client.sendPresence({ x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10 });
  });
});

// ------------------------------------------------------------------ undo, redo and the eraser

/** Erases sent and not confirmed yet, by id: shown at once, put back if refused. */
const erasing = new Map<string, readonly number[]>();
new EraserInput(
  canvas.overlay,
  gestures,
  () => canvas.view,
  canvas.strokes,
  (seq) => canvas.setHidden(seq, true),
  (seqs) => {
    for (const targets of chunks(seqs)) {
      const id = client.nextId();
      if (client.send({ t: 'erase', id, targets })) erasing.set(id, targets);
      else for (const seq of targets) canvas.setHidden(seq, visibility.hidden(seq));
    }
  },
);

/** At most `maxTargets` seqs a message. */
function chunks(seqs: readonly number[]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < seqs.length; i += DEFAULT_LIMITS.maxTargets) out.push(seqs.slice(i, i + DEFAULT_LIMITS.maxTargets));
  return out;
}

function undoOrRedo(t: 'undo' | 'redo'): void {
  const targets = t === 'undo' ? undoStack.takeUndo() : undoStack.takeRedo();
  if (targets === null) return;
  for (const chunk of chunks(targets)) client.send({ t, id: client.nextId(), targets: chunk });
  showHistory();
}

const undoButton = byId('undo', HTMLButtonElement);
const redoButton = byId('redo', HTMLButtonElement);
const eraserButton = byId('eraser', HTMLButtonElement);
undoButton.addEventListener('click', () => undoOrRedo('undo'));
redoButton.addEventListener('click', () => undoOrRedo('redo'));
eraserButton.addEventListener('click', () => (gestures.tool = gestures.tool === 'erase' ? 'draw' : 'erase'));
function showHistory(): void {
  // Called for every message: the DOM is touched only on a change.
  if (undoButton.disabled === undoStack.canUndo) undoButton.disabled = !undoStack.canUndo;
  if (redoButton.disabled === undoStack.canRedo) redoButton.disabled = !undoStack.canRedo;
}
showHistory();
window.addEventListener('keydown', (e) => {
  if (!(e.ctrlKey || e.metaKey) || e.altKey || !boardKeys(e)) return;
  const key = e.key.toLowerCase();
  if (key === 'z') undoOrRedo(e.shiftKey ? 'redo' : 'undo');
  else if (key === 'y' && !e.shiftKey) undoOrRedo('redo');
  else return;
  e.preventDefault();
});

/** The empty board says what to do; it goes once anything is drawn. */
const hint = byId('hint', HTMLElement);
function showHint(): void {
  const empty = canvas.strokeCount === 0 && client.pendingCount === 0 && !input.drawing && client.state === 'live';
  if (hint.hidden === empty) hint.hidden = !empty;
}

// ------------------------------------------------------------------ view and export

const handButton = byId('hand', HTMLButtonElement);
const zoomLevel = byId('zoom-level', HTMLButtonElement);
function showTool(tool: Tool): void {
  handButton.setAttribute('aria-pressed', String(tool === 'pan'));
  byId('eraser', HTMLButtonElement).setAttribute('aria-pressed', String(tool === 'erase'));
}
handButton.addEventListener('click', () => (gestures.tool = gestures.tool === 'pan' ? 'draw' : 'pan'));
byId('zoom-in', HTMLButtonElement).addEventListener('click', () => gestures.zoomBy(ZOOM_STEP));
byId('zoom-out', HTMLButtonElement).addEventListener('click', () => gestures.zoomBy(1 / ZOOM_STEP));
// 100% is one CSS pixel per board unit.
zoomLevel.addEventListener('click', () => gestures.zoomBy(1 / canvas.view.scale));
byId('fit', HTMLButtonElement).addEventListener('click', () => canvas.fit());
function showZoom(v: View): void {
  zoomLevel.textContent = `${Math.round(v.scale * 100)}%`;
}
canvas.onViewChange = (v) => {
  showZoom(v);
  peers.viewChanged(v);
};
showZoom(canvas.view);

byId('export-png', HTMLButtonElement).addEventListener('click', () => {
  renderPng(canvas.strokes).then(
    (png) => download(png, `${board}.png`),
    (err: unknown) => toast(`No PNG: ${err instanceof Error ? err.message : String(err)}`),
  );
});
byId('export-svg', HTMLButtonElement).addEventListener('click', () => {
  download(new Blob([renderSvg(canvas.strokes)], { type: 'image/svg+xml' }), `${board}.svg`);
});

// ------------------------------------------------------------------ chat

const chatForm = byId('chat-form', HTMLFormElement);
const chat = new ChatPanel(
  byId('chat-lines', HTMLOListElement),
  byId('name', HTMLInputElement),
  chatForm,
  byId('chat-input', HTMLInputElement),
  (name, text) => {
    const id = client.nextId();
    return client.send({ t: 'chat', id, name, text }) ? id : null;
  },
);

client.sendPresence({ name: chat.name });
byId('name', HTMLInputElement).addEventListener('change', () => client.sendPresence({ name: chat.name }));

const chatToggle = byId('chat-toggle', HTMLButtonElement);
const unread = {
  count: 0,
  bump(): void {
    if (!document.body.classList.contains('chat-collapsed')) return;
    this.count++;
    chatToggle.dataset['unread'] = String(this.count);
  },
};
if (matchMedia('(max-width: 700px)').matches) document.body.classList.add('chat-collapsed');
chatToggle.addEventListener('click', () => {
  const collapsed = document.body.classList.toggle('chat-collapsed');
  chatToggle.setAttribute('aria-expanded', String(!collapsed));
  if (!collapsed) {
    unread.count = 0;
    delete chatToggle.dataset['unread'];
  }
});

// ------------------------------------------------------------------ clear, with a confirmation that blocks nothing else

const clearButton = byId('clear', HTMLButtonElement);
const clearConfirm = byId('clear-confirm', HTMLElement);
function closeClear(): void {
  clearConfirm.hidden = true;
  clearButton.setAttribute('aria-expanded', 'false');
}
clearButton.addEventListener('click', () => {
  clearConfirm.hidden = !clearConfirm.hidden;
  clearButton.setAttribute('aria-expanded', String(!clearConfirm.hidden));
  if (!clearConfirm.hidden) byId('clear-no', HTMLButtonElement).focus();
});
byId('clear-yes', HTMLButtonElement).addEventListener('click', () => {
  client.send({ t: 'clear', id: client.nextId() });
  closeClear();
});
byId('clear-no', HTMLButtonElement).addEventListener('click', closeClear);
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') closeClear();
});
canvas.overlay.addEventListener('pointerdown', closeClear);

// ------------------------------------------------------------------ share

const copyLink = byId('copy-link', HTMLButtonElement);
copyLink.addEventListener('click', () => {
  const url = location.href;
  const show = () => toast(`Share this link: ${url}`);
  // The clipboard API exists only in secure contexts (https, localhost); plain
  // http on a LAN gets the link shown instead.
  if (navigator.clipboard === undefined) return show();
  navigator.clipboard.writeText(url).then(() => toast('Link copied: anyone with it can draw here.'), show);
});

// ------------------------------------------------------------------ connection state

const status = byId('status', HTMLElement);
const statusText = byId('status-text', HTMLElement);
let countdown: ReturnType<typeof setInterval> | null = null;

function showStatus(): void {
  const s = client.state;
  const pending = client.pendingCount;
  const unsent = pending > 0 ? ` · ${pending} unsent` : '';
  status.dataset['state'] = s;
  let text: string;
  switch (s) {
    case 'live':
      text = `Live · worker ${client.workerId ?? '?'}${pending > 0 ? ` · sending ${pending}` : ''}`;
      break;
    case 'connecting':
      text = `${client.snapshot().welcomes > 0 ? 'Reconnecting' : 'Connecting'}…${unsent}`;
      break;
    case 'waiting': {
      const secs = Math.max(0, Math.ceil((client.retryAt - Date.now()) / 1000));
      text = `Offline · retry in ${secs}s${unsent}`;
      break;
    }
  }
  statusText.textContent = text;
  status.title = s === 'waiting' ? 'Click to reconnect now' : '';
  if (s === 'waiting' && countdown === null) countdown = setInterval(showStatus, 500);
  if (s !== 'waiting' && countdown !== null) {
    clearInterval(countdown);
    countdown = null;
  }
}
status.addEventListener('click', () => client.reconnectNow());

// ------------------------------------------------------------------ toast

const toastEl = byId('toast', HTMLElement);
let toastTimer: ReturnType<typeof setTimeout> | null = null;
function toast(text: string): void {
  toastEl.textContent = text;
  toastEl.hidden = false;
  if (toastTimer !== null) clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (toastEl.hidden = true), 4000);
}

// ------------------------------------------------------------------ debug hook and start

window.smegchat = Object.freeze({
  state: () => ({
    ...client.snapshot(),
    strokes: canvas.strokeCount,
    backlog: canvas.backlog,
    drawing: input.drawing,
    name: chat.name,
    pen: { ...pen },
    view: { ...canvas.view },
    tool: gestures.tool,
    redrawMs: canvas.lastRedrawTime,
    visible: [...canvas.strokes.visible()].length,
    canUndo: undoStack.canUndo,
    canRedo: undoStack.canRedo,
    peers: peers.state(),
  }),
  boardToClient(x: number, y: number): [number, number] {
    const r = canvas.overlay.getBoundingClientRect();
    const [cx, cy] = toScreen(canvas.view, x, y);
    return [r.left + cx, r.top + cy];
  },
  exportExtent: () => exportExtent(canvas.strokes),
  boardSize: Object.freeze([BOARD_WIDTH, BOARD_HEIGHT] as const),
});

client.start();
