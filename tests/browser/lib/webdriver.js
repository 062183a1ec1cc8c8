// A small W3C WebDriver client over Node's built-in fetch: just what these tests use.
//
// Why not selenium-webdriver: its current releases need Node 22 while Debian's nodejs is 18, and its Selenium
// Manager exists to download drivers and browsers, which this machine must never do. chromedriver speaks plain
// HTTP + JSON (https://www.w3.org/TR/webdriver2/), so a hundred lines cover navigation, elements, keys, script,
// screenshots and Chrome DevTools commands (chromedriver's `goog/cdp/execute`).
"use strict";

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

/** Keys from the WebDriver spec's key table. */
const Key = Object.freeze({
  BACKSPACE: "\uE003",
  TAB: "\uE004",
  ENTER: "\uE007",
  SHIFT: "\uE008",
  CONTROL: "\uE009",
  ARROW_LEFT: "\uE012",
  ARROW_RIGHT: "\uE014",
});

class WebDriverError extends Error {
  constructor(method, path, status, value) {
    super(`${method} ${path} -> ${status} ${value && value.error}: ${value && value.message}`);
    this.status = status;
    this.code = value && value.error;
  }
}

/** An element found on the page; its methods map one-to-one to WebDriver element commands. */
class Element {
  constructor(session, id) {
    this.session = session;
    this.id = id;
  }
  toJSON() {
    return { [ELEMENT]: this.id };
  }
  cmd(method, path, body) {
    return this.session.cmd(method, `/element/${this.id}${path}`, body);
  }
  /** Types text the way a user does (one key event per character). */
  sendKeys(text) {
    return this.cmd("POST", "/value", { text });
  }
  click() {
    return this.cmd("POST", "/click", {});
  }
  clear() {
    return this.cmd("POST", "/clear", {});
  }
  property(name) {
    return this.cmd("GET", `/property/${encodeURIComponent(name)}`);
  }
  attribute(name) {
    return this.cmd("GET", `/attribute/${encodeURIComponent(name)}`);
  }
  text() {
    return this.cmd("GET", "/text");
  }
}

/** One browser session on a chromedriver. */
class Session {
  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  /** Starts a session; `capabilities` become the W3C `alwaysMatch` set. */
  static async start(driverUrl, capabilities) {
    const value = await request(driverUrl, "POST", "/session", { capabilities: { alwaysMatch: capabilities } });
    return new Session(driverUrl, value.sessionId);
  }

  cmd(method, path, body) {
    return request(this.base, method, `/session/${this.id}${path}`, body);
  }

  quit() {
    return this.cmd("DELETE", "");
  }
  get(url) {
    return this.cmd("POST", "/url", { url });
  }
  currentUrl() {
    return this.cmd("GET", "/url");
  }
  async find(css) {
    const value = await this.cmd("POST", "/element", { using: "css selector", value: css });
    return new Element(this, value[ELEMENT]);
  }
  async findAll(css) {
    const values = await this.cmd("POST", "/elements", { using: "css selector", value: css });
    return values.map((v) => new Element(this, v[ELEMENT]));
  }
  async active() {
    const value = await this.cmd("GET", "/element/active");
    return new Element(this, value[ELEMENT]);
  }
  /** Runs `script` (a function body) in the page; `args` may hold Elements. */
  execute(script, ...args) {
    return this.cmd("POST", "/execute/sync", { script, args });
  }
  /** Like execute, but the script calls `arguments[arguments.length - 1](result)` when done. */
  executeAsync(script, ...args) {
    return this.cmd("POST", "/execute/async", { script, args });
  }
  /** The cookies the browser holds for the current page, as { name, value, ... }. */
  cookies() {
    return this.cmd("GET", "/cookie");
  }
  deleteCookie(name) {
    return this.cmd("DELETE", `/cookie/${encodeURIComponent(name)}`);
  }
  /** A PNG of the viewport. */
  async screenshot() {
    return Buffer.from(await this.cmd("GET", "/screenshot"), "base64");
  }
  /** Presses and releases keys in order; a modifier listed in `hold` stays down for the whole chord. */
  keys(sequence, hold = []) {
    const actions = [];
    for (const k of hold) actions.push({ type: "keyDown", value: k });
    for (const k of sequence) actions.push({ type: "keyDown", value: k }, { type: "keyUp", value: k });
    for (const k of [...hold].reverse()) actions.push({ type: "keyUp", value: k });
    return this.cmd("POST", "/actions", { actions: [{ type: "key", id: "keyboard", actions }] });
  }
  /** A Chrome DevTools Protocol command, e.g. `Emulation.setEmulatedMedia`. */
  cdp(cmd, params = {}) {
    return this.cmd("POST", "/goog/cdp/execute", { cmd, params });
  }
}

// No single WebDriver command of these tests takes long; one that hangs fails the test instead of the run.
const COMMAND_TIMEOUT_MS = 30000;

async function request(base, method, path, body) {
  const response = await fetch(base + path, {
    method,
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    headers: body === undefined ? {} : { "content-type": "application/json; charset=utf-8" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new WebDriverError(method, path, response.status, { error: "bad json", message: text.slice(0, 200) });
  }
  if (!response.ok) throw new WebDriverError(method, path, response.status, parsed.value);
  return parsed.value;
}

module.exports = { Session, Element, Key, WebDriverError };
