// The blog and its admin on the Stratus that has an admin (STRATUS_ADMIN_URL): signing in and out, writing,
// previewing and publishing posts, as a person does it in the browser.
"use strict";

const { STRATUS_ADMIN_URL } = require("./browser");

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through scripts/browser-tests.sh`);
  return value;
}

const ADMIN = Object.freeze({
  username: required("STRATUS_ADMIN_USERNAME"),
  password: required("STRATUS_ADMIN_PASSWORD"),
});

/** A title, slug or name no other test uses. */
function unique(prefix) {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e4)}`;
}

/** Ends this browser's admin session without the sign-out button (the cookie is simply gone). */
async function forgetSession(browser) {
  await browser.openAdmin("/health/live");
  await browser.session.deleteCookie("stratus_session");
}

/** Types into the sign-in form and submits it; the caller is on /admin/login. */
async function submitSignIn(browser, username, password) {
  const user = await browser.session.find("#username");
  await user.clear();
  await user.sendKeys(username);
  const pass = await browser.session.find("#password");
  await pass.clear();
  await pass.sendKeys(password);
  await browser.clickAndWait("form.login-form button[type=submit]", "the page answering the sign-in");
}

/** Signs in from the sign-in form (signing out first when a session is left over). */
async function signIn(browser, next = "/admin") {
  await browser.openAdmin(`/admin/login?next=${encodeURIComponent(next)}`);
  if (!(await browser.currentPath()).startsWith("/admin/login")) return; // already signed in
  await submitSignIn(browser, ADMIN.username, ADMIN.password);
  const at = await browser.currentPath();
  if (at.startsWith("/admin/login")) throw new Error("signing in as the admin failed");
}

/** Makes sure this browser has an admin session; costs one request when it already has. */
async function ensureSignedIn(browser) {
  const cookies = await browser.session.cookies().catch(() => []);
  if (cookies.some((c) => c.name === "stratus_session")) {
    await browser.openAdmin("/admin");
    if (!(await browser.currentPath()).startsWith("/admin/login")) return;
  }
  await signIn(browser);
}

/** The sign-out button in the admin bar. */
function signOut(browser) {
  return browser.clickAndWait("form[action='/admin/logout'] button[type=submit]", "the page after signing out");
}

/** Puts a post's fields into the editor in one step (the typing itself is tested in blog.test.js). */
function fillEditor(browser, { title = "", slug = "", body = "" }) {
  return browser.session.execute(
    `const [title, slug, body] = arguments;
     document.getElementById("title").value = title;
     document.getElementById("slug").value = slug;
     document.getElementById("body").value = body;`,
    title,
    slug,
    body,
  );
}

/** Clicks Save or Preview in the editor. */
function editorButton(browser, action) {
  return browser.clickAndWait(`.editor-form button[value=${action}]`, `the editor after ${action}`);
}

/** Clicks Publish (or Unpublish) on a saved post's editor page. */
function publishButton(browser) {
  return browser.clickAndWait("form[action$='/publish'] button[type=submit]", "the page after publishing");
}

// A post with everything Markdown can put on a page (heading, list, table, code, a long link), so the
// layout checks see the blog at its widest.
const FIXTURE = Object.freeze({
  title: "How Stratus is tested in a browser",
  slug: "browser-tests-fixture",
  body: [
    "Every page is opened in **headless Chromium** at 375 and 1280 px, light and dark.",
    "",
    "# What is checked",
    "",
    "- no horizontal overflow",
    "- axe-core finds nothing serious",
    "- a visible focus ring",
    "",
    "| check | widths |",
    "| --- | --- |",
    "| layout | 375, 1280 |",
    "| accessibility | 375, 1280 |",
    "",
    "```sh",
    "STRATUS_BIN=$PWD/target/debug/stratus scripts/browser-tests.sh --a-rather-long-flag=with-a-long-value-that-does-not-wrap",
    "```",
    "",
    "A long address: https://example.com/a/very/long/path/that/keeps/going/and/going/without/any/spaces/at/all/index.html",
    "",
    "> Quoted: the pages work without JavaScript.",
  ].join("\n"),
});

/** Makes sure the fixture post is published (creating it the first time); returns its slug. */
async function ensureFixturePost(browser) {
  const response = await fetch(`${STRATUS_ADMIN_URL}/blog/${FIXTURE.slug}`);
  if (response.status === 200) return FIXTURE.slug;
  await ensureSignedIn(browser);
  await browser.openAdmin("/admin/posts/new");
  await fillEditor(browser, FIXTURE);
  await editorButton(browser, "save");
  await publishButton(browser);
  const check = await fetch(`${STRATUS_ADMIN_URL}/blog/${FIXTURE.slug}`);
  if (check.status !== 200) throw new Error(`the fixture post is not public: ${check.status}`);
  return FIXTURE.slug;
}

let draftEditPath = null;

/** A saved draft this test process can edit (created once per process); returns its editor's path. */
async function ensureDraft(browser) {
  await ensureSignedIn(browser);
  if (draftEditPath) return draftEditPath;
  await browser.openAdmin("/admin/posts/new");
  await fillEditor(browser, { title: unique("Draft"), body: "A draft that is edited twice at once." });
  await editorButton(browser, "save");
  const at = new URL(await browser.session.currentUrl());
  if (!/^\/admin\/posts\/[^/]+\/edit$/.test(at.pathname)) throw new Error(`saving a draft led to ${at}`);
  draftEditPath = at.pathname;
  return draftEditPath;
}

module.exports = {
  ADMIN,
  FIXTURE,
  unique,
  forgetSession,
  submitSignIn,
  signIn,
  ensureSignedIn,
  signOut,
  fillEditor,
  editorButton,
  publishButton,
  ensureFixturePost,
  ensureDraft,
};
