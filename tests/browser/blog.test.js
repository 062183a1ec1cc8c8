// The blog on the Stratus with an admin: signing in, writing a post, previewing, saving, publishing, seeing it
// public on /blog, /blog/{slug} and the feed, signing out. With JavaScript (desktop) and without (phone).
"use strict";

const { describe, it, before, after } = require("node:test");
const assert = require("node:assert/strict");

const { openBrowser, VIEWPORTS, STRATUS_ADMIN_URL } = require("./lib/browser");
const admin = require("./lib/admin");

/** What a reader gets at a path of the admin server, without any cookie. */
async function publicly(pathname) {
  const response = await fetch(STRATUS_ADMIN_URL + pathname, { redirect: "manual" });
  return { status: response.status, text: await response.text() };
}

function textOf(browser, css) {
  return browser.session.execute(
    "const e = document.querySelector(arguments[0]); return e ? e.textContent.replace(/\\s+/g, ' ').trim() : null;",
    css,
  );
}

/** Types a post into the editor key by key, as its author does. */
async function typePost(browser, { title, body }) {
  await (await browser.session.find("#title")).sendKeys(title);
  await (await browser.session.find("#body")).sendKeys(body);
}

const BODY = "Written in a real browser.\n\n# A heading\n\nSome *emphasis* and a list:\n\n- one\n- two\n";

for (const { javascript, viewport } of [
  { javascript: true, viewport: VIEWPORTS.desktop },
  { javascript: false, viewport: VIEWPORTS.phone },
]) {
  describe(`the blog ${javascript ? "with" : "without"} JavaScript`, () => {
    let browser;
    const title = admin.unique(javascript ? "Post with JS" : "Post without JS");
    let slug = null;

    before(async () => {
      browser = await openBrowser({ viewport, javascript });
    });
    after(async () => {
      if (browser) await browser.quit();
    });

    it("the admin pages send a signed-out visitor to the sign-in form", async () => {
      await browser.openAdmin("/admin/posts/new");
      assert.equal(await browser.currentPath(), "/admin/login?next=%2Fadmin%2Fposts%2Fnew");
      assert.equal(await textOf(browser, "h1"), "Sign in");
    });

    if (javascript) {
      it("a wrong password is refused with an announced message, the user name kept", async () => {
        await browser.openAdmin("/admin/login");
        await admin.submitSignIn(browser, admin.ADMIN.username, "wrong-password");
        assert.equal(await textOf(browser, "[role=alert]"), "The user name or password is wrong.");
        const user = await browser.session.find("#username");
        assert.equal(await user.property("value"), admin.ADMIN.username);
        assert.equal(await user.attribute("aria-describedby"), "login-error");
        assert.equal(await (await browser.session.find("#password")).property("value"), "", "no password echoed");
      });
    }

    it("signing in leads to where the visitor was going", async () => {
      await browser.openAdmin("/admin/login?next=%2Fadmin%2Fposts%2Fnew");
      await admin.submitSignIn(browser, admin.ADMIN.username, admin.ADMIN.password);
      assert.equal(await browser.currentPath(), "/admin/posts/new");
      assert.ok((await textOf(browser, ".admin-bar")).includes(`Signed in as ${admin.ADMIN.username}`));
    });

    it("preview shows the rendered post and saves nothing", async () => {
      await browser.openAdmin("/admin/posts/new");
      await typePost(browser, { title, body: BODY });
      await admin.editorButton(browser, "preview");

      assert.equal(await textOf(browser, ".preview .post-body h2"), "A heading");
      assert.equal(await textOf(browser, ".preview .post-body em"), "emphasis");
      assert.equal(await (await browser.session.find("#title")).property("value"), title, "the form is kept");
      assert.equal((await (await browser.session.find("#body")).property("value")).trim(), BODY.trim());
      assert.ok(!(await publicly("/blog")).text.includes(title), "nothing public yet");
    });

    it("saving makes a draft readers cannot see", async () => {
      await admin.editorButton(browser, "save");
      const at = await browser.currentPath();
      assert.match(at, /^\/admin\/posts\/[^/]+\/edit\?notice=created$/);
      assert.ok((await textOf(browser, "[role=status]")).length > 0, "a notice says it was saved");
      assert.ok((await textOf(browser, ".card .muted")).includes("Draft"), "it is a draft");
      slug = await (await browser.session.find("#slug")).property("value");
      assert.match(slug, /^post-with(out)?-js-/);
      assert.equal((await publicly(`/blog/${slug}`)).status, 404);
    });

    it("publishing makes it public on /blog, /blog/{slug} and the feed", async () => {
      await admin.publishButton(browser);
      const list = await publicly("/blog");
      assert.ok(list.text.includes(title), "listed on /blog");
      assert.ok((await publicly("/blog/feed.xml")).text.includes(title), "in the feed");

      await browser.openAdmin("/blog");
      const titles = await browser.session.execute(
        "return Array.from(document.querySelectorAll('.post-summary h2 a'), (a) => a.textContent.trim());",
      );
      assert.equal(titles[0], title, "the newest post comes first");
      await browser.clickAndWait(".post-summary h2 a", "the post's page");
      assert.equal(await browser.currentPath(), `/blog/${slug}`);
      assert.equal(await textOf(browser, "h1"), title);
      assert.equal(await textOf(browser, ".post-body h2"), "A heading");
      assert.deepEqual(
        await browser.session.execute("return Array.from(document.querySelectorAll('.post-body li'), (li) => li.textContent);"),
        ["one", "two"],
      );
    });

    it("the admin's list shows it published; signing out ends the session", async () => {
      await browser.openAdmin("/admin");
      const row = await browser.session.execute(
        `return Array.from(document.querySelectorAll(".admin-table tbody tr"))
           .map((tr) => Array.from(tr.cells, (td) => td.textContent.replace(/\\s+/g, " ").trim()))
           .find((cells) => cells[0] === arguments[0]) || null;`,
        title,
      );
      assert.ok(row, "the post is in the list");
      assert.match(row[1], /Published/);

      await admin.signOut(browser);
      assert.equal(await browser.currentPath(), "/admin/login?notice=signed-out");
      assert.ok((await textOf(browser, "[role=status]")).length > 0, "a notice says so");
      await browser.openAdmin("/admin");
      assert.match(await browser.currentPath(), /^\/admin\/login/, "the session is gone");
      assert.equal((await publicly(`/blog/${slug}`)).status, 200, "the post stays public");
    });
  });
}
