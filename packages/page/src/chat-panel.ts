/**
 * The chat panel: lines in seq order, this page's own lines shown at once
 * (dimmed until the server's echo confirms them), and a name the user picks,
 * kept in localStorage. Nothing here ever blocks drawing: the name is an
 * ordinary field with a default, not a dialog.
 */
import { DEFAULT_LIMITS, type ChatMessage } from '@smegchat/protocol';
import { randomTag } from './board-client.js';

const NAME_KEY = 'smegchat.name';
/** Lines kept on screen; older ones are dropped so a long history stays cheap. */
const MAX_LINES = 500;

export class ChatPanel {
  private readonly pending = new Map<string, HTMLLIElement>();
  private readonly incoming: HTMLLIElement[] = [];
  private frame: number | null = null;

  constructor(
    private readonly list: HTMLOListElement,
    private readonly nameInput: HTMLInputElement,
    form: HTMLFormElement,
    private readonly textInput: HTMLInputElement,
    /** Sends a line; returns its id, or null if it could not be sent. */
    private readonly send: (name: string, text: string) => string | null,
  ) {
    nameInput.maxLength = DEFAULT_LIMITS.maxNameLength;
    textInput.maxLength = DEFAULT_LIMITS.maxTextLength;
    nameInput.value = loadName();
    nameInput.addEventListener('change', () => {
      const name = nameInput.value.trim().slice(0, DEFAULT_LIMITS.maxNameLength);
      nameInput.value = name || loadName();
      if (name) saveName(name);
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
  }

  get name(): string {
    return this.nameInput.value.trim() || loadName();
  }

  private submit(): void {
    const text = this.textInput.value.trim();
    if (!text) return;
    const name = this.name;
    const id = this.send(name, text);
    if (id === null) return;
    this.textInput.value = '';
    const li = line(name, text, true);
    li.classList.add('pending');
    li.dataset['id'] = id;
    this.pending.set(id, li);
    this.list.append(li);
    this.scrollToEnd(true);
  }

  /** A sequenced chat line; `mine` when it confirms one this page sent. */
  add(m: ChatMessage, mine: boolean): void {
    const li = mine ? this.pending.get(m.id) : undefined;
    if (li !== undefined) {
      this.pending.delete(m.id);
      li.classList.remove('pending');
      // Confirmed lines take their place in seq order, before any still pending.
      this.incoming.push(li);
    } else {
      this.incoming.push(line(m.name, m.text, mine));
    }
    this.schedule();
  }

  /** A note in the stream, e.g. that the board was cleared. */
  note(text: string): void {
    const li = document.createElement('li');
    li.className = 'note';
    li.textContent = text;
    this.incoming.push(li);
    this.schedule();
  }

  /** Forgets every confirmed line (a reset: the whole board follows); pending lines stay. */
  reset(): void {
    this.incoming.length = 0;
    for (const li of [...this.list.children]) if (!li.classList.contains('pending')) li.remove();
  }

  /** A refused line: drop it and tell the user. */
  refuse(id: string): void {
    const li = this.pending.get(id);
    if (li === undefined) return;
    this.pending.delete(id);
    li.classList.replace('pending', 'refused');
  }

  /** Lines are added in one go per animation frame: a replay of thousands costs one layout. */
  private schedule(): void {
    this.frame ??= requestAnimationFrame(() => {
      this.frame = null;
      const stick = this.atEnd();
      const frag = document.createDocumentFragment();
      for (const li of this.incoming.splice(0)) frag.append(li);
      const firstPending = this.list.querySelector(':scope > li.pending');
      this.list.insertBefore(frag, firstPending);
      let extra = this.list.children.length - MAX_LINES;
      while (extra-- > 0) this.list.firstElementChild?.remove();
      this.scrollToEnd(stick);
    });
  }

  private atEnd(): boolean {
    const el = this.list;
    return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  }

  private scrollToEnd(really: boolean): void {
    if (really) this.list.scrollTop = this.list.scrollHeight;
  }
}

function line(name: string, text: string, mine: boolean): HTMLLIElement {
  const li = document.createElement('li');
  if (mine) li.classList.add('mine');
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = name;
  who.style.setProperty('--hue', String(hue(name)));
  const what = document.createElement('span');
  what.className = 'what';
  what.textContent = text;
  li.append(who, what);
  return li;
}

/** A stable colour per name, so speakers are told apart at a glance. */
export function hue(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return h % 360;
}

/** The name of this page load, for when storage is unavailable. */
let fallbackName: string | null = null;

function loadName(): string {
  let name: string | null = null;
  try {
    name = localStorage.getItem(NAME_KEY);
  } catch {
    // Storage can be disabled (private modes, policies): a name per page load then.
  }
  if (name && name.length <= DEFAULT_LIMITS.maxNameLength) return name;
  name = fallbackName ?? `guest-${randomTag(4)}`;
  saveName(name);
  return name;
}

function saveName(name: string): void {
  fallbackName = name;
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // See loadName.
  }
}
