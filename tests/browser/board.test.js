// The board at `/` with JavaScript on: board.js moves focus between the digit boxes, handles Backspace and a
// pasted number; the server stores a valid submission and answers a wrong one with the typed values kept.
"use strict";

const { describe, it, before, after } = require("node:test");
const assert = require("node:assert/strict");

const { openBrowser, VIEWPORTS } = require("./lib/browser");
const { Key } = require("./lib/webdriver");
const board = require("./lib/board");

describe("the board with JavaScript", () => {
  let browser;
  before(async () => {
    browser = await openBrowser({ viewport: VIEWPORTS.desktop });
  });
  after(async () => {
    if (browser) await browser.quit();
  });

  it("typing 8 digits moves focus box by box", async () => {
    await browser.open("/");
    await (await browser.session.find("#digit1")).click();
    for (const [i, digit] of [..."20261123"].entries()) {
      assert.equal(await board.focusedId(browser), `digit${i + 1}`, `before typing digit ${i + 1}`);
      await browser.session.keys([digit]);
    }
    assert.deepEqual(await board.digitValues(browser), [..."20261123"]);
    assert.equal(await board.focusedId(browser), "digit8", "the last box keeps focus");
  });

  it("Backspace in an empty box clears the one before and goes back to it", async () => {
    await browser.open("/");
    await (await browser.session.find("#digit1")).click();
    await browser.session.keys([..."123"]);
    assert.equal(await board.focusedId(browser), "digit4");

    await browser.session.keys([Key.BACKSPACE]);
    assert.equal(await board.focusedId(browser), "digit3");
    assert.deepEqual((await board.digitValues(browser)).slice(0, 4), ["1", "2", "", ""]);

    await browser.session.keys([Key.BACKSPACE, Key.BACKSPACE]);
    assert.equal(await board.focusedId(browser), "digit1");
    assert.deepEqual(await board.digitValues(browser), ["", "", "", "", "", "", "", ""]);

    await browser.session.keys([Key.BACKSPACE]);
    assert.equal(await board.focusedId(browser), "digit1", "Backspace in the first box stays there");
  });

  it("pasting 12345678 into the first box fills all eight", async () => {
    await browser.open("/");
    // A real paste: the page's clipboard gets the text, then Ctrl+V in the first box.
    const origin = new URL(await browser.session.currentUrl()).origin;
    await browser.session.cdp("Browser.grantPermissions", {
      origin,
      permissions: ["clipboardReadWrite", "clipboardSanitizedWrite"],
    });
    const written = await browser.session.executeAsync(`
      const done = arguments[arguments.length - 1];
      navigator.clipboard.writeText("12345678").then(() => done("ok"), (e) => done(String(e)));`);
    assert.equal(written, "ok", "the test could not put text on the clipboard");
    await (await browser.session.find("#digit1")).click();
    await browser.session.keys(["v"], [Key.CONTROL]);

    assert.deepEqual(await board.digitValues(browser), [..."12345678"]);
    assert.equal(await board.focusedId(browser), "digit8");
  });

  it("submitting shows the new latest", async () => {
    const username = board.uniqueUsername("js");
    await browser.open("/");
    await board.typeUsername(browser, username);
    await (await browser.session.find("#digit1")).click();
    await browser.session.keys([..."00420042"]);
    await board.submit(browser);

    assert.equal(new URL(await browser.session.currentUrl()).pathname, "/", "post/redirect/get lands on /");
    assert.deepEqual(await board.latestShown(browser), { username, number: "00420042" });
    assert.deepEqual(await board.digitValues(browser), ["", "", "", "", "", "", "", ""], "a fresh form");
  });

  it("7 digits shows the errors, keeps the typed values and focuses the first wrong box", async () => {
    const username = board.uniqueUsername("js-seven");
    await browser.open("/");
    const before = await board.latestShown(browser);
    await board.typeUsername(browser, username);
    await (await browser.session.find("#digit1")).click();
    await browser.session.keys([..."7654321"]);
    await board.submit(browser);

    const errors = await board.errorTexts(browser);
    assert.ok(errors.includes("Digit 8 is missing."), JSON.stringify(errors));
    assert.ok(errors.some((e) => e.startsWith("Nothing was saved.")), JSON.stringify(errors));
    assert.equal(await (await browser.session.find("#username")).property("value"), username);
    assert.deepEqual(await board.digitValues(browser), [..."7654321", ""]);
    assert.equal(await board.focusedId(browser), "digit8", "board.js moves focus to the first wrong box");
    assert.deepEqual(await board.latestShown(browser), before, "nothing was stored");
  });
});
