/**
 * Moving the view by hand. The wheel zooms about the pointer (a trackpad's
 * pinch arrives as a wheel with Ctrl, more finely); a drag pans with the hand
 * tool, with Space held, or with the middle mouse button; two fingers pinch
 * and pan together, and the one left when the other lifts goes on panning.
 * Keys (never while typing): + and − zoom, Shift+1 fits, H picks the hand,
 * E the eraser.
 *
 * Drawing is pointer-input.ts's: this takes only the pointers it claims, and
 * a drawing finger that a second one joins (see PointerInput).
 */
import type { BoardCanvas } from './board-canvas.js';
import { panBy, pinch, wheelZoomFactor, type View } from './view-transform.js';

/** What a plain drag does: draw a line, move the view, or erase the strokes it touches. */
export type Tool = 'draw' | 'pan' | 'erase';

/** One press of + or − (or of the zoom buttons). */
export const ZOOM_STEP = 1.25;

type Xy = [number, number];

export class ViewGestures {
  private toolNow: Tool = 'draw';
  private spaceHeld = false;
  /** Pointers moving the view, by id: their latest position, in CSS pixels within the canvas. */
  private readonly grips = new Map<number, Xy>();
  /** The view, and where the grips were, when the set of grips last changed. */
  private anchorView: View | null = null;
  private anchors = new Map<number, Xy>();
  private origin: Xy = [0, 0];

  constructor(
    private readonly target: HTMLElement,
    private readonly canvas: BoardCanvas,
    /** The tool changed (a key, or the hand held with Space): the toolbar shows it. */
    private readonly toolChanged: (tool: Tool) => void,
  ) {
    target.addEventListener('wheel', (e) => this.wheel(e), { passive: false });
    target.addEventListener('pointermove', (e) => this.move(e));
    for (const type of ['pointerup', 'pointercancel', 'lostpointercapture'] as const) target.addEventListener(type, (e) => this.release(e));
    window.addEventListener('keydown', (e) => this.keydown(e));
    window.addEventListener('keyup', (e) => this.keyup(e));
    window.addEventListener('blur', () => this.setSpace(false));
    this.showCursor();
  }

  get tool(): Tool {
    return this.toolNow;
  }

  set tool(t: Tool) {
    this.toolNow = t;
    this.showCursor();
    this.toolChanged(t);
  }

  /** Whether the view is being moved by a pointer now. */
  get moving(): boolean {
    return this.grips.size > 0;
  }

  /** Takes a pointerdown that moves the view rather than draws; false leaves it to drawing. */
  claim(e: PointerEvent): boolean {
    const middle = e.pointerType === 'mouse' && e.button === 1;
    const hand = (this.toolNow === 'pan' || this.spaceHeld) && (e.pointerType !== 'mouse' || e.button === 0);
    // A finger landing during a pinch joins it, rather than drawing.
    const joining = e.pointerType === 'touch' && this.grips.size > 0;
    if (!middle && !hand && !joining) return false;
    e.preventDefault();
    this.capture(e.pointerId);
    this.grip(e.pointerId, e.clientX, e.clientY);
    return true;
  }

  /**
   * A second finger came down while one was drawing: the two pinch. The
   * drawing finger's stroke is PointerInput's to end; it says where the
   * finger is now (client pixels).
   */
  pinchWith(first: { id: number; clientX: number; clientY: number }, second: PointerEvent): void {
    second.preventDefault();
    this.capture(second.pointerId);
    this.grip(first.id, first.clientX, first.clientY);
    this.grip(second.pointerId, second.clientX, second.clientY);
  }

  /** Zooms about the canvas's centre (the buttons and keys). */
  zoomBy(factor: number): void {
    const { width, height } = this.canvas.size;
    this.canvas.zoomAt(width / 2, height / 2, factor);
  }

  private capture(id: number): void {
    try {
      this.target.setPointerCapture(id);
    } catch {
      // A pointer no longer active (or a synthetic event): move without capture.
    }
  }

  private grip(id: number, clientX: number, clientY: number): void {
    if (this.grips.size === 0) {
      const r = this.target.getBoundingClientRect();
      this.origin = [r.left, r.top];
    }
    this.grips.set(id, this.local(clientX, clientY));
    this.reanchor();
  }

  private local(clientX: number, clientY: number): Xy {
    return [clientX - this.origin[0], clientY - this.origin[1]];
  }

  /** Each change of fingers starts the gesture afresh from the view as it is, so nothing jumps. */
  private reanchor(): void {
    this.anchorView = this.canvas.view;
    this.anchors = new Map([...this.grips].map(([id, p]) => [id, [p[0], p[1]] as Xy]));
    this.showCursor();
  }

  private move(e: PointerEvent): void {
    const p = this.grips.get(e.pointerId);
    if (p === undefined || this.anchorView === null) return;
    [p[0], p[1]] = this.local(e.clientX, e.clientY);
    const [a, b] = [...this.grips.keys()];
    const a0 = this.anchors.get(a!)!;
    const a1 = this.grips.get(a!)!;
    if (b === undefined) {
      this.canvas.setView(panBy(this.anchorView, a1[0] - a0[0], a1[1] - a0[1]));
    } else {
      this.canvas.setView(pinch(this.anchorView, a0, this.anchors.get(b)!, a1, this.grips.get(b)!));
    }
  }

  private release(e: PointerEvent): void {
    if (this.grips.delete(e.pointerId)) this.reanchor();
  }

  private wheel(e: WheelEvent): void {
    // Also keeps Ctrl+wheel (and a trackpad's pinch) from zooming the whole page.
    e.preventDefault();
    if (e.deltaY === 0) return;
    const r = this.target.getBoundingClientRect();
    this.canvas.zoomAt(e.clientX - r.left, e.clientY - r.top, wheelZoomFactor(e.deltaY, e.deltaMode, e.ctrlKey));
  }

  private keydown(e: KeyboardEvent): void {
    if (!boardKeys(e)) return;
    if (e.code === 'Space') {
      e.preventDefault();
      this.setSpace(true);
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    if (e.key === '+' || e.key === '=') this.zoomBy(ZOOM_STEP);
    else if (e.key === '-' || e.key === '_') this.zoomBy(1 / ZOOM_STEP);
    else if (e.code === 'Digit1' && e.shiftKey) this.canvas.fit();
    else if (e.key === 'h' || e.key === 'H') this.tool = this.toolNow === 'pan' ? 'draw' : 'pan';
    else if (e.key === 'e' || e.key === 'E') this.tool = this.toolNow === 'erase' ? 'draw' : 'erase';
    else return;
    e.preventDefault();
  }

  private keyup(e: KeyboardEvent): void {
    if (e.code !== 'Space' || !this.spaceHeld) return;
    // Else the focused button would take the Space as a click.
    e.preventDefault();
    this.setSpace(false);
  }

  private setSpace(held: boolean): void {
    if (this.spaceHeld === held) return;
    this.spaceHeld = held;
    this.showCursor();
  }

  private showCursor(): void {
    this.target.dataset['tool'] = this.spaceHeld ? 'pan' : this.toolNow;
    this.target.classList.toggle('panning', this.grips.size > 0);
  }
}

/**
 * Whether a key is the board's: not while typing (the name, a chat line, the
 * colour picker), and Space not on a button focused from the keyboard, which
 * Space presses. A button just clicked with the mouse keeps the focus but is
 * not focus-visible, so Space pans there as anywhere on the board.
 */
/** Whether a key press is the board's (not typing in a field, nor Space on a focused button). */
export function boardKeys(e: KeyboardEvent): boolean {
  const el = e.target;
  if (!(el instanceof HTMLElement)) return true;
  if (el.isContentEditable || el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement)
    return false;
  return !(e.code === 'Space' && el instanceof HTMLButtonElement && el.matches(':focus-visible'));
}
