// Every page state in lib/pages.js, in four passes (1280 and 375 px, light and dark). Each state is reached
// once per pass (reaching the blog's and files' states signs in, saves and uploads, so one pass per
// configuration keeps the suite fast) and every check of that configuration runs on it as a subtest:
// - layout (all four): no horizontal overflow (document width <= viewport, no element past the right edge),
//   the colour scheme applies, a full-page screenshot in test-output/screenshots/<page>-<width>-<scheme>.png;
// - axe-core: no serious or critical violations (1280 light and dark, 375 light);
// - every input has a label (1280 light); every input's edge at 3:1 and a visible focus outline (3:1) at
//   every Tab stop (1280 light and dark); error states announce their errors and tie them to their fields.
"use strict";

const { describe, it, before, after } = require("node:test");
const assert = require("node:assert/strict");

const { openBrowser, VIEWPORTS } = require("./lib/browser");
const { PAGES } = require("./lib/pages");
const a11y = require("./lib/a11y");

const BLOCKING = new Set(["serious", "critical"]);

function describeViolations(violations) {
  return violations.map((v) => `${v.impact} ${v.id}: ${v.help} -> ${v.targets.join(" | ")}`).join("\n");
}

// Elements whose box reaches past the right edge of the viewport (clipped ones included, which
// scrollWidth alone would miss). Visually hidden elements are 1 px boxes inside the page and never count.
const OVERFLOWING = `
  const limit = document.documentElement.clientWidth;
  return Array.from(document.body.querySelectorAll("*"))
    .filter((e) => !e.classList.contains("visually-hidden"))
    .map((e) => ({ e, r: e.getBoundingClientRect() }))
    .filter(({ r }) => r.width > 0 && (r.right > limit + 0.5 || r.left < -0.5))
    .map(({ e, r }) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
      (e.className ? "." + String(e.className).split(" ").join(".") : "") + " [" + Math.round(r.left) + ", " +
      Math.round(r.right) + "]");`;

const SCHEME = `
  const rgb = getComputedStyle(document.body).backgroundColor.match(/\\d+(\\.\\d+)?/g).map(Number);
  return { dark: matchMedia("(prefers-color-scheme: dark)").matches,
           brightness: (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255 };`;

const PASSES = [
  { viewport: VIEWPORTS.desktop, scheme: "light", checks: ["layout", "axe", "labels", "edges", "announced", "focus"] },
  { viewport: VIEWPORTS.desktop, scheme: "dark", checks: ["layout", "axe", "edges", "focus"] },
  { viewport: VIEWPORTS.phone, scheme: "light", checks: ["layout", "axe"] },
  { viewport: VIEWPORTS.phone, scheme: "dark", checks: ["layout"] },
];

const CHECKS = {
  layout: ["fits the width, the colour scheme applies, screenshot saved", async (browser, page, { viewport, scheme }) => {
    const layout = await browser.layout();
    assert.equal(layout.innerWidth, viewport.width, "the browser lays the page out at the width asked for");
    assert.ok(
      layout.scrollWidth <= layout.innerWidth,
      `document width ${layout.scrollWidth} > viewport ${layout.innerWidth}`,
    );
    assert.deepEqual(await browser.session.execute(OVERFLOWING), [], "elements past the right edge");

    const shown = await browser.session.execute(SCHEME);
    assert.equal(shown.dark, scheme === "dark", "prefers-color-scheme emulation took effect");
    if (scheme === "dark") assert.ok(shown.brightness < 0.25, `dark page background (${shown.brightness})`);
    else assert.ok(shown.brightness > 0.75, `light page background (${shown.brightness})`);

    await browser.screenshot(`${page.name}-${viewport.width}-${scheme}`);
  }],
  axe: ["no serious or critical axe-core violations", async (browser, page) => {
    const violations = await a11y.runAxe(browser);
    const blocking = violations.filter((v) => BLOCKING.has(v.impact));
    assert.deepEqual(blocking, [], `\n${describeViolations(blocking)}`);
    const minor = violations.filter((v) => !BLOCKING.has(v.impact));
    if (minor.length > 0) console.log(`# axe (minor, ${page.name}): ${describeViolations(minor)}`);
  }],
  labels: ["every input has a label", async (browser) => {
    assert.deepEqual(await a11y.unlabelledControls(browser), []);
  }],
  edges: ["every input's edge stands out (3:1)", async (browser) => {
    assert.deepEqual(await a11y.faintControls(browser), []);
  }],
  focus: ["every Tab stop shows a clear focus outline", async (browser) => {
    const stops = await a11y.tabStops(browser);
    assert.ok(stops.length > 0, "the page has keyboard stops");
    for (const stop of stops) {
      const where = JSON.stringify(stop);
      assert.ok(stop.focusVisible, `:focus-visible applies: ${where}`);
      assert.notEqual(stop.outlineStyle, "none", `outline drawn: ${where}`);
      assert.ok(stop.outlineWidth >= 2, `outline at least 2 px: ${where}`);
      assert.ok(stop.outlineContrast >= 3, `outline contrast >= 3:1 with its background: ${where}`);
    }
  }],
  announced: ["its errors are announced and tied to their fields", async (browser, page) => {
    if (page.announces === undefined) return;
    const said = await a11y.errorAnnouncements(browser);
    assert.ok(
      said.live.some((l) => (l.role === "alert" || l.live === "assertive") && l.text !== "" &&
        l.text.includes(page.announces)),
      `an alert saying "${page.announces}": ${JSON.stringify(said.live)}`,
    );
    for (const control of said.invalid) {
      assert.ok(
        control.describedBy.length > 0 && control.describedBy.every((t) => t !== ""),
        `${control.id} is aria-invalid and points at messages that exist: ${JSON.stringify(control)}`,
      );
    }
    assert.deepEqual(said.orphans, [], "every error message is tied to a control");
  }],
};

for (const pass of PASSES) {
  const { viewport, scheme, checks } = pass;
  describe(`every page at ${viewport.width} px, ${scheme}`, () => {
    let browser;
    before(async () => {
      browser = await openBrowser({ viewport, colorScheme: scheme });
    });
    after(async () => {
      if (browser) await browser.quit();
    });

    for (const page of PAGES) {
      it(page.describe, async (t) => {
        await page.reach(browser);
        for (const check of checks) {
          if (check === "announced" && page.announces === undefined) continue;
          const [title, run] = CHECKS[check];
          // The Tab walk (last) moves focus and scrolls; the other checks read the page as it loaded.
          await t.test(title, () => run(browser, page, pass));
        }
      });
    }
  });
}
