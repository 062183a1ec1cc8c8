// Opening Debian's Chromium through chromedriver, the way every test file here does.
//
// scripts/browser-tests.sh starts the binary and chromedriver and passes their addresses:
//   STRATUS_URL       the running Stratus without an admin, e.g. http://127.0.0.1:40911 (the board writes here;
//                     its blog, files and users stay empty)
//   STRATUS_ADMIN_URL the running Stratus with an admin (STRATUS_ADMIN_USERNAME / STRATUS_ADMIN_PASSWORD)
//   CHROMEDRIVER_URL  the running chromedriver, e.g. http://127.0.0.1:9515
//   SCREENSHOT_DIR    where PNGs go (default: <repo>/test-output/screenshots)
//   CHROMIUM_BIN      the browser (default /usr/bin/chromium); nothing here ever downloads one.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { Session } = require("./webdriver");

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through scripts/browser-tests.sh`);
  return value.replace(/\/+$/, "");
}

const STRATUS_URL = required("STRATUS_URL");
const STRATUS_ADMIN_URL = required("STRATUS_ADMIN_URL");
const CHROMEDRIVER_URL = required("CHROMEDRIVER_URL");
const SCREENSHOT_DIR =
  process.env.SCREENSHOT_DIR || path.resolve(__dirname, "..", "..", "..", "test-output", "screenshots");

/** The two widths every page must work at. */
const VIEWPORTS = Object.freeze({
  phone: { name: "phone", width: 375, height: 800 },
  desktop: { name: "desktop", width: 1280, height: 900 },
});

// As root Chromium refuses to start without --no-sandbox; the network flags stop it calling home (there is no
// network here, and each refused connection costs time).
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--hide-scrollbars",
];

/**
 * Opens a browser session.
 * - viewport: VIEWPORTS.phone uses chromedriver's mobile emulation (CLI headless cannot lay out narrower than
 *   500 px); VIEWPORTS.desktop sizes the window.
 * - javascript: false blocks scripts in pages (WebDriver's own scripts still run, so tests can read the DOM).
 * - colorScheme: "light" or "dark", emulated through the DevTools protocol for every page of the session.
 */
async function openBrowser({ viewport = VIEWPORTS.desktop, javascript = true, colorScheme = "light" } = {}) {
  const options = { binary: process.env.CHROMIUM_BIN || "/usr/bin/chromium", args: [...CHROMIUM_FLAGS] };
  if (viewport.width < 500) {
    options.mobileEmulation = {
      // touch stays off: with touch emulation chromedriver's element click never returns on a page whose
      // JavaScript is blocked (seen with chromedriver 156), and the no-JS flows run at phone width.
      deviceMetrics: { width: viewport.width, height: viewport.height, pixelRatio: 1, mobile: true, touch: false },
    };
  } else {
    options.args.push(`--window-size=${viewport.width},${viewport.height}`);
  }
  if (!javascript) options.prefs = { "profile.managed_default_content_settings.javascript": 2 };
  const session = await Session.start(CHROMEDRIVER_URL, {
    browserName: "chrome",
    "goog:chromeOptions": options,
    timeouts: { script: 20000, pageLoad: 20000, implicit: 0 },
  });
  const browser = new Browser(session, viewport);
  await browser.setColorScheme(colorScheme);
  return browser;
}

/** A session plus the page-level helpers the tests share. */
class Browser {
  constructor(session, viewport) {
    this.session = session;
    this.viewport = viewport;
    this.colorScheme = "light";
  }

  /** Opens a path of the running Stratus (the one without an admin unless `base` says otherwise). */
  open(pathname, base = STRATUS_URL) {
    return this.session.get(base + pathname);
  }

  /** Opens a path of the Stratus that has an admin configured. */
  openAdmin(pathname) {
    return this.open(pathname, STRATUS_ADMIN_URL);
  }

  /** The path (with query) of the page shown now. */
  async currentPath() {
    const url = new URL(await this.session.currentUrl());
    return url.pathname + url.search;
  }

  /**
   * Clicks the element at `css` (usually a submit button) and waits until the browser has replaced the page
   * with the one that answers. A mark on the current document tells the old page from the new one.
   */
  async clickAndWait(css, what = `the page after clicking ${css}`) {
    await this.session.execute("window.__stratusPageBefore = true;");
    await (await this.session.find(css)).click();
    await this.waitFor(
      "return !window.__stratusPageBefore && document.readyState === 'complete';",
      what,
    );
  }

  /** Throws unless an element matching `css` is on the page (and, when given, its text includes `text`). */
  async mustShow(css, text) {
    const found = await this.session.execute(
      `const [css, text] = arguments;
       return Array.from(document.querySelectorAll(css)).map((e) => e.textContent.replace(/\\s+/g, " ").trim())
         .filter((t) => text == null || t.includes(text));`,
      css,
      text == null ? null : text,
    );
    if (found.length === 0) {
      const at = await this.currentPath();
      throw new Error(`expected ${css}${text == null ? "" : ` with "${text}"`} on ${at}`);
    }
  }

  /** The Cookie header this browser would send to Stratus (for Node's fetch acting as the same user). */
  async cookieHeader() {
    const cookies = await this.session.cookies();
    return cookies.map((c) => `${c.name}=${c.value}`).join("; ");
  }

  /** Polls `script` (a function body) until it returns true; a page being replaced just means "not yet". */
  async waitFor(script, what, timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if ((await this.session.execute(script)) === true) return;
      } catch (error) {
        if (Date.now() >= deadline) throw error;
      }
      if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async setColorScheme(scheme) {
    await this.session.cdp("Emulation.setEmulatedMedia", {
      features: [{ name: "prefers-color-scheme", value: scheme }],
    });
    this.colorScheme = scheme;
  }

  /** The layout sizes that decide horizontal overflow. */
  layout() {
    return this.session.execute(`
      const d = document.documentElement;
      return { innerWidth: window.innerWidth, clientWidth: d.clientWidth, scrollWidth: d.scrollWidth,
               bodyScrollWidth: document.body.scrollWidth };`);
  }

  /** Saves a PNG of the whole page (not just the viewport) under SCREENSHOT_DIR; returns its path. */
  async screenshot(name) {
    const { height } = await this.session.execute(
      "return { height: Math.ceil(document.documentElement.scrollHeight) };",
    );
    // Taller than the viewport: capture beyond it, at the same width, so the PNG shows the whole page.
    const shot = await this.session.cdp("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: this.viewport.width, height: Math.max(height, 1), scale: 1 },
    });
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const file = path.join(SCREENSHOT_DIR, `${name}.png`);
    fs.writeFileSync(file, Buffer.from(shot.data, "base64"));
    return file;
  }

  quit() {
    return this.session.quit();
  }
}

module.exports = { openBrowser, Browser, VIEWPORTS, STRATUS_URL, STRATUS_ADMIN_URL, SCREENSHOT_DIR };
