// The users page on the Stratus with an admin: signed out it offers no form; signed in, a new user is listed
// (and offered as a file owner), and an email already taken (in any case) is refused next to the field with
// the typed values kept. With JavaScript (desktop) and without (phone).
"use strict";

const { describe, it, before, after } = require("node:test");
const assert = require("node:assert/strict");

const { openBrowser, VIEWPORTS } = require("./lib/browser");
const admin = require("./lib/admin");
const files = require("./lib/files");

for (const { javascript, viewport } of [
  { javascript: true, viewport: VIEWPORTS.desktop },
  { javascript: false, viewport: VIEWPORTS.phone },
]) {
  describe(`the users page ${javascript ? "with" : "without"} JavaScript`, () => {
    let browser;
    const id = admin.unique(javascript ? "js" : "nojs");
    const user = { name: `Grace ${id}`, email: `grace-${id}@example.com` };

    before(async () => {
      browser = await openBrowser({ viewport, javascript });
    });
    after(async () => {
      if (browser) await browser.quit();
    });

    it("signed out, it offers no form and points to the sign-in", async () => {
      await browser.openAdmin("/users");
      assert.deepEqual(await browser.session.findAll("form[action='/users']"), []);
      assert.equal(await (await browser.session.find("a[href='/admin/login?next=%2Fusers']")).text(), "Sign in");
    });

    it("signed in, a new user typed into the form is listed and offered as a file owner", async () => {
      await admin.signIn(browser, "/users");
      assert.equal(await browser.currentPath(), "/users");
      await (await browser.session.find("#name")).sendKeys(user.name);
      await (await browser.session.find("#email")).sendKeys(user.email);
      await browser.clickAndWait("form[action='/users'] button[type=submit]", "the list");

      assert.equal(await browser.currentPath(), "/users", "post/redirect/get lands on the list");
      const users = await files.listedUsers(browser);
      assert.deepEqual(users[0], user, "the newest user comes first");
      assert.equal(await (await browser.session.find("#name")).property("value"), "", "a fresh form");

      await browser.openAdmin("/files");
      const owners = await browser.session.execute(
        "return Array.from(document.querySelectorAll('#owner option'), (o) => o.textContent.trim());",
      );
      assert.ok(owners.includes(`${user.name} <${user.email}>`), JSON.stringify(owners));
    });

    it("an email already taken is refused next to the field, announced, the typed values kept", async () => {
      await browser.openAdmin("/users");
      const before = (await files.listedUsers(browser)).length;
      const again = { name: "Someone Else", email: user.email.toUpperCase() };
      await (await browser.session.find("#name")).sendKeys(again.name);
      await (await browser.session.find("#email")).sendKeys(again.email);
      await browser.clickAndWait("form[action='/users'] button[type=submit]", "the answer");

      const email = await browser.session.find("#email");
      assert.equal(await email.property("value"), again.email);
      assert.equal(await (await browser.session.find("#name")).property("value"), again.name);
      assert.equal(await email.attribute("aria-invalid"), "true");
      const describedBy = (await email.attribute("aria-describedby")).split(/\s+/);
      assert.ok(describedBy.includes("email-error"), describedBy.join(" "));
      assert.match(await (await browser.session.find("#email-error")).text(), /taken|already|exists/i);
      const alert = await (await browser.session.find("[role=alert]")).text();
      assert.ok(alert.startsWith("Nothing was saved."), alert);
      assert.equal((await files.listedUsers(browser)).length, before, "nothing stored");
    });
  });
}
