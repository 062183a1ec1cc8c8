// The board at `/`, as a user sees it: the username box, eight digit boxes, the submit button, the latest.
"use strict";

/** A username no other test uses, so "the latest is mine" holds even against a shared server. */
function uniqueUsername(prefix) {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}`;
}

/** What the eight boxes hold, in order. */
function digitValues(browser) {
  return browser.session.execute(
    "return Array.from(document.querySelectorAll('input.digit'), (box) => box.value);",
  );
}

/** The id of the focused element ("" for none). */
function focusedId(browser) {
  return browser.session.execute("return document.activeElement ? document.activeElement.id : '';");
}

async function typeUsername(browser, username) {
  const box = await browser.session.find("#username");
  await box.clear();
  await box.sendKeys(username);
}

/** Types one character into each box, clicking each box first: how a user without JavaScript fills them. */
async function typeBoxByBox(browser, digits) {
  for (let i = 0; i < digits.length; i += 1) {
    const box = await browser.session.find(`#digit${i + 1}`);
    await box.click();
    await box.sendKeys(digits[i]);
  }
}

/**
 * Puts values into the form in one step, for tests that need a state (the 422 page) rather than the typing:
 * the typing itself is tested in board.test.js and board-nojs.test.js.
 */
function fillForm(browser, username, digits) {
  return browser.session.execute(
    `const [username, digits] = arguments;
     document.getElementById("username").value = username;
     document.querySelectorAll("input.digit").forEach((box, i) => { box.value = digits[i] || ""; });`,
    username,
    digits,
  );
}

/** Clicks Submit and waits until the page that answers (the board, or its error state) has loaded. */
async function submit(browser) {
  // A mark on the current document: it is gone once the browser has replaced the page. WebDriver's click
  // usually waits for the navigation it starts, but not always, so the test waits for the new page itself.
  await browser.session.execute("window.__stratusPageBeforeSubmit = true;");
  const button = await browser.session.find("form.board-form button[type=submit]");
  await button.click();
  await browser.waitFor(
    "return !window.__stratusPageBeforeSubmit && document.readyState === 'complete' && " +
      "document.getElementById('digit1') !== null;",
    "the page answering the submission",
  );
}

/** The latest submission as shown, or null when the board shows none. */
function latestShown(browser) {
  return browser.session.execute(`
    const user = document.querySelector("dd.latest-username");
    const number = document.querySelector("dd.latest-number");
    return user && number ? { username: user.textContent.trim(), number: number.textContent.trim() } : null;`);
}

/** Every visible error message on the page. */
function errorTexts(browser) {
  return browser.session.execute(
    "return Array.from(document.querySelectorAll('.field-error, [role=alert]'), (e) => e.textContent.trim());",
  );
}

module.exports = {
  uniqueUsername,
  digitValues,
  focusedId,
  typeUsername,
  typeBoxByBox,
  fillForm,
  submit,
  latestShown,
  errorTexts,
};
