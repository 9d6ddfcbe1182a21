/**
 * The board's coordinate space. Every client draws in the same fixed board
 * rectangle, fitted into its own window, so a phone and a desktop see the
 * same drawing in the same place whatever their window sizes.
 *
 * The board is 1600 × 1000 units (16:10, the shape of most screens) rather
 * than something finer like 0..10000: stroke widths are in board units too
 * and the protocol caps them at `maxWidth` (200), so units have to be close
 * to a screen pixel for thin and thick pens both to make sense. Coordinates
 * are sent with one decimal, which is finer than a device pixel on any screen
 * the board is fitted to.
 */
import type { Point } from '@smegchat/protocol';

export const BOARD_WIDTH = 1600;
export const BOARD_HEIGHT = 1000;

/** How the board maps into a canvas of a given CSS size ("contain" fit, centred). */
export class Viewport {
  scale = 1;
  offsetX = 0;
  offsetY = 0;

  /**
   * Fits the board into `width` × `height` CSS pixels, leaving a margin around
   * it, centred; but on a tall narrow screen (a phone held upright) at the top,
   * where the hand and the eye are, leaving the space below for the chat.
   */
  fit(width: number, height: number, margin: number): void {
    const w = Math.max(1, width - 2 * margin);
    const h = Math.max(1, height - 2 * margin);
    this.scale = Math.min(w / BOARD_WIDTH, h / BOARD_HEIGHT);
    this.offsetX = (width - BOARD_WIDTH * this.scale) / 2;
    const spare = height - BOARD_HEIGHT * this.scale;
    this.offsetY = spare > height / 3 ? margin : spare / 2;
  }

  /** A CSS-pixel position within the canvas to a board point, clamped onto the board. */
  toBoard(cssX: number, cssY: number): Point {
    const x = clamp((cssX - this.offsetX) / this.scale, 0, BOARD_WIDTH);
    const y = clamp((cssY - this.offsetY) / this.scale, 0, BOARD_HEIGHT);
    return [round1(x), round1(y)];
  }

  /** A board point to a CSS-pixel position within the canvas. */
  toCss(p: Point): [number, number] {
    return [this.offsetX + p[0] * this.scale, this.offsetY + p[1] * this.scale];
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** One decimal keeps frames small and is still finer than a device pixel. */
function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
