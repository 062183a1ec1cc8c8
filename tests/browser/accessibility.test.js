// Accessibility checks that need more than one page state: the checks themselves can fail, the board's Tab
// order, and the board's errors announced in detail. Every page's axe-core, label, contrast and focus checks
// run in pages.test.js.
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

describe("labels, focus and announcements", () => {
  let browser;
  before(async () => {
    browser = await openBrowser({ viewport: VIEWPORTS.desktop });
  });
  after(async () => {
    if (browser) await browser.quit();
  });

  it("the checks can fail: an unlabelled input added to the board is caught by axe-core and by the label check", async () => {
    await browser.open("/");
    await browser.session.execute(
      "const probe = document.createElement('input'); probe.id = 'probe'; document.querySelector('form').append(probe);",
    );
    const violations = await a11y.runAxe(browser);
    const label = violations.find((v) => v.id === "label");
    assert.ok(label && BLOCKING.has(label.impact), `axe reports it: ${describeViolations(violations)}`);
    assert.deepEqual(label.targets, ["#probe"]);
    assert.equal((await a11y.unlabelledControls(browser)).length, 1);
  });

  it("the board's Tab order reaches the username, all eight boxes and Submit, in order", async () => {
    await browser.setColorScheme("light");
    await browser.open("/");
    const ids = (await a11y.tabStops(browser)).map((s) => s.id || s.tag);
    const form = ids.filter((id) => id === "username" || id.startsWith("digit") || id === "button");
    assert.deepEqual(form, ["username", ...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => `digit${i}`), "button"]);
  });

  it("the board's errors are announced: a live summary, and each wrong field described by its message", async () => {
    const page = PAGES.find((p) => p.name === "board-errors");
    await page.reach(browser);
    const said = await a11y.errorAnnouncements(browser);

    assert.ok(
      said.live.some((l) => (l.role === "alert" || l.live) && l.text.startsWith("Nothing was saved.")),
      JSON.stringify(said.live),
    );
    const digit8 = said.invalid.find((c) => c.id === "digit8");
    assert.ok(digit8, `digit 8 is marked aria-invalid: ${JSON.stringify(said.invalid)}`);
    assert.ok(digit8.describedBy.includes("Digit 8 is missing."), JSON.stringify(digit8));
    for (const control of said.invalid) {
      assert.ok(
        control.describedBy.length > 0 && control.describedBy.every((t) => t !== ""),
        `${control.id} points at messages that exist: ${JSON.stringify(control)}`,
      );
    }
    assert.deepEqual(said.orphans, [], "every error message is tied to a control");
    assert.equal(said.focused, "digit8", "focus lands on the first wrong field, so its message is read out");
  });
});
