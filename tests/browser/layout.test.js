// Every page in lib/pages.js at 375 px (a phone) and 1280 px (a desktop), light and dark: no horizontal
// overflow, the colour scheme really applies, and a full-page screenshot lands in test-output/screenshots/.
"use strict";

const { describe, it, before, after } = require("node:test");
const assert = require("node:assert/strict");

const { openBrowser, VIEWPORTS } = require("./lib/browser");
const { PAGES } = require("./lib/pages");

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

for (const viewport of [VIEWPORTS.phone, VIEWPORTS.desktop]) {
  describe(`layout at ${viewport.width} px`, () => {
    let browser;
    before(async () => {
      browser = await openBrowser({ viewport });
    });
    after(async () => {
      if (browser) await browser.quit();
    });

    for (const scheme of ["light", "dark"]) {
      for (const page of PAGES) {
        it(`${page.describe}, ${scheme}: fits the width, screenshot saved`, async () => {
          await browser.setColorScheme(scheme);
          await page.reach(browser);

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
        });
      }
    }
  });
}
