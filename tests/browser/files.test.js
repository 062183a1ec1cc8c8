// The files page on the Stratus with an admin: signed out it offers no upload; signed in, a file chosen in
// the form is uploaded, listed with its name, size and type, downloaded as an attachment with the same
// bytes, and deleted. Too large a file and no file at all are refused. With JavaScript (desktop) and
// without (phone).
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
  describe(`the files page ${javascript ? "with" : "without"} JavaScript`, () => {
    let browser;
    const name = `${admin.unique(javascript ? "pixel js" : "pixel nojs")}.png`;
    let listed = null;

    before(async () => {
      browser = await openBrowser({ viewport, javascript });
    });
    after(async () => {
      if (browser) await browser.quit();
    });

    it("signed out, it offers no upload and no delete, and points to the sign-in", async () => {
      await browser.openAdmin("/files");
      assert.deepEqual(await browser.session.findAll("form.upload-form"), []);
      assert.deepEqual(await browser.session.findAll(".file-list form"), []);
      const link = await browser.session.find("a[href='/admin/login?next=%2Ffiles']");
      assert.equal(await link.text(), "Sign in");
    });

    it("signed in, a file chosen in the form is uploaded and listed with its name, size and type", async () => {
      await admin.signIn(browser, "/files");
      assert.equal(await browser.currentPath(), "/files");
      await files.upload(browser, files.tempFile(name, files.PNG));

      assert.equal(await browser.currentPath(), "/files", "post/redirect/get lands on the list");
      const rows = await files.listedFiles(browser);
      listed = rows.find((f) => f.name === name);
      assert.ok(listed, `listed: ${JSON.stringify(rows)}`);
      assert.equal(rows[0].name, name, "the newest file comes first");
      assert.equal(listed.size, `${files.PNG.length} bytes`);
      assert.equal(listed.type, "image/png", "the type is sniffed from the bytes");
      assert.equal(listed.owner, "no owner");
      assert.ok(listed.download, "the link downloads");
      assert.equal(listed.deleteLabel, `Delete ${name}`, "each Delete button names its file");
    });

    it("its link downloads the same bytes as an attachment", async () => {
      const response = await fetch(listed.href, { headers: { cookie: await browser.cookieHeader() } });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "image/png");
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      const disposition = response.headers.get("content-disposition");
      assert.match(disposition, /^attachment;/);
      assert.ok(disposition.includes(`filename*=UTF-8''${encodeURIComponent(name)}`), disposition);
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), files.PNG);
    });

    it("a file over the limit is refused with an announced message and nothing is listed", async () => {
      await browser.openAdmin("/files");
      const before = (await files.listedFiles(browser)).length;
      const big = files.tempFile(`big-${name}.bin`, Buffer.alloc(1024 * 1024 + 1, 1));
      await files.upload(browser, big);
      const alert = await browser.session.execute(
        "const a = document.querySelector('[role=alert]'); return a ? a.textContent.trim() : null;",
      );
      assert.match(alert || "", /too large: at most 1\.0 MiB/);
      await browser.openAdmin("/files");
      assert.equal((await files.listedFiles(browser)).length, before);
    });

    it("Upload without a file chosen is stopped by the form itself", async () => {
      await browser.openAdmin("/files");
      const before = (await files.listedFiles(browser)).length;
      await browser.session.execute("window.__stratusPageBefore = true;");
      await (await browser.session.find("form.upload-form button[type=submit]")).click();
      const state = await browser.session.execute(
        `const input = document.getElementById("file");
         return { samePage: window.__stratusPageBefore === true, missing: input.validity.valueMissing };`,
      );
      assert.deepEqual(state, { samePage: true, missing: true });
      await browser.openAdmin("/files");
      assert.equal((await files.listedFiles(browser)).length, before, "nothing stored");
    });

    it("Delete removes it from the list and from the server", async () => {
      await browser.openAdmin("/files");
      const button = await browser.session.find(`.file-list button[aria-label="Delete ${name}"]`);
      await browser.session.execute("window.__stratusPageBefore = true;");
      await button.click();
      await browser.waitFor("return !window.__stratusPageBefore && document.readyState === 'complete';", "the list");
      assert.equal(await browser.currentPath(), "/files");
      assert.ok(!(await files.listedFiles(browser)).some((f) => f.name === name), "gone from the list");
      assert.equal((await fetch(listed.href, { headers: { cookie: await browser.cookieHeader() } })).status, 404, "gone from the server");
    });
  });
}
