// The board at `/` with JavaScript off: the plain HTML form must do the whole job on its own.
"use strict";

const { describe, it, before, after } = require("node:test");
const assert = require("node:assert/strict");

const { openBrowser, VIEWPORTS } = require("./lib/browser");
const board = require("./lib/board");

describe("the board without JavaScript", () => {
  let browser;
  before(async () => {
    browser = await openBrowser({ viewport: VIEWPORTS.phone, javascript: false });
  });
  after(async () => {
    if (browser) await browser.quit();
  });

  it("really runs without JavaScript: typing a digit leaves focus where it is", async () => {
    await browser.open("/");
    const first = await browser.session.find("#digit1");
    await first.click();
    await first.sendKeys("5");
    assert.equal(await board.focusedId(browser), "digit1", "board.js must not have run");
  });

  it("typing each box and submitting shows the new latest", async () => {
    const username = board.uniqueUsername("nojs");
    await browser.open("/");
    await board.typeUsername(browser, username);
    await board.typeBoxByBox(browser, "31415926");
    assert.deepEqual(await board.digitValues(browser), [..."31415926"]);
    await board.submit(browser);

    assert.equal(new URL(await browser.session.currentUrl()).pathname, "/");
    assert.deepEqual(await board.latestShown(browser), { username, number: "31415926" });
  });

  it("7 digits shows the errors and keeps the typed values", async () => {
    const username = board.uniqueUsername("nojs-seven");
    await browser.open("/");
    const before = await board.latestShown(browser);
    await board.typeUsername(browser, username);
    await board.typeBoxByBox(browser, "2718281");
    await board.submit(browser);

    const errors = await board.errorTexts(browser);
    assert.ok(errors.includes("Digit 8 is missing."), JSON.stringify(errors));
    assert.ok(errors.some((e) => e.startsWith("Nothing was saved.")), JSON.stringify(errors));
    assert.equal(await (await browser.session.find("#username")).property("value"), username);
    assert.deepEqual(await board.digitValues(browser), [..."2718281", ""]);
    assert.deepEqual(await board.latestShown(browser), before, "nothing was stored");
  });

  it("a wrong username is refused with its own message, digits kept", async () => {
    await browser.open("/");
    await board.typeUsername(browser, " ");
    await board.typeBoxByBox(browser, "12345678");
    await board.submit(browser);

    const username = await browser.session.find("#username");
    assert.equal(await username.attribute("aria-invalid"), "true");
    assert.equal(await username.attribute("aria-describedby"), "username-error");
    assert.ok((await (await browser.session.find("#username-error")).text()).length > 0);
    assert.deepEqual(await board.digitValues(browser), [..."12345678"]);
  });
});
