// Every page state a person can land on. The layout suite (screenshots, overflow) and the accessibility suite
// (axe-core, labels, focus) run over this list, so a new page gets both by adding one entry here.
//
// An entry: { name, describe, reach(browser), announces? } where reach() brings the browser to that state,
// checks it got there (browser.mustShow) and returns once the page is loaded. `name` becomes the
// screenshot's file name. `announces` (error states) is text the page's alert must hold ("" for any): the
// accessibility suite then checks the errors are announced and tied to their fields.
"use strict";

const board = require("./board");
const admin = require("./admin");
const files = require("./files");

const PAGES = [
  {
    name: "board",
    describe: "the board with an empty form",
    reach: (browser) => browser.open("/"),
  },
  {
    name: "board-errors",
    describe: "the board answering 422 to a 7-digit number",
    announces: "Nothing was saved.",
    reach: async (browser) => {
      await browser.open("/");
      await board.fillForm(browser, board.uniqueUsername("seven"), "1234567");
      await board.submit(browser);
    },
  },
  {
    name: "not-found",
    describe: "the 404 page",
    reach: (browser) => browser.open("/no-such-page"),
  },

  // ---- Pages of the Stratus without an admin (STRATUS_URL): nothing but the board writes there, so its
  // blog, files and users stay empty, and its uploads and new users are open to everyone.
  {
    name: "blog-empty",
    describe: "the blog with no posts",
    reach: async (browser) => {
      await browser.open("/blog");
      await browser.mustShow(".empty", "No posts yet");
    },
  },
  {
    name: "blog-not-found",
    describe: "the blog's 404 for an unknown post",
    reach: async (browser) => {
      await browser.open("/blog/no-such-post");
      await browser.mustShow("h1", "This post is not here");
    },
  },
  {
    name: "admin-setup",
    describe: "the sign-in page when no admin is configured (how to set one up)",
    reach: async (browser) => {
      await browser.open("/admin/login");
      await browser.mustShow("h1", "No admin account is set up");
    },
  },
  {
    name: "files-empty",
    describe: "the files page with no files, uploads open to everyone",
    reach: async (browser) => {
      await browser.open("/files");
      await browser.mustShow(".empty", "No files yet");
      await browser.mustShow("form.upload-form input[type=file]");
    },
  },
  {
    name: "users-empty",
    describe: "the users page with no users, adding open to everyone",
    reach: async (browser) => {
      await browser.open("/users");
      await browser.mustShow(".empty", "No users yet");
    },
  },

  // ---- Pages of the Stratus with an admin (STRATUS_ADMIN_URL). The two sign-in states end the browser's
  // session; the next entry signs in again (which also clears the failed sign-in's throttle count).
  {
    name: "admin-sign-in",
    describe: "the admin sign-in form",
    reach: async (browser) => {
      await admin.forgetSession(browser);
      await browser.openAdmin("/admin/login");
      await browser.mustShow("h1", "Sign in");
    },
  },
  {
    name: "admin-sign-in-failed",
    describe: "the sign-in form after a wrong password",
    announces: "The user name or password is wrong.",
    reach: async (browser) => {
      await admin.forgetSession(browser);
      await browser.openAdmin("/admin/login");
      await admin.submitSignIn(browser, admin.ADMIN.username, "not-the-password");
      await browser.mustShow("[role=alert]", "The user name or password is wrong.");
    },
  },
  {
    name: "admin-posts",
    describe: "the admin's list of posts",
    reach: async (browser) => {
      await admin.ensureFixturePost(browser);
      await admin.ensureSignedIn(browser);
      await browser.openAdmin("/admin");
      await browser.mustShow(".admin-table td a", admin.FIXTURE.title);
    },
  },
  {
    name: "blog",
    describe: "the blog with a published post",
    reach: async (browser) => {
      await admin.ensureFixturePost(browser);
      await browser.openAdmin("/blog");
      await browser.mustShow(".post-summary h2", admin.FIXTURE.title);
    },
  },
  {
    name: "blog-post",
    describe: "one published post",
    reach: async (browser) => {
      const slug = await admin.ensureFixturePost(browser);
      await browser.openAdmin(`/blog/${slug}`);
      await browser.mustShow("h1", admin.FIXTURE.title);
    },
  },
  {
    name: "editor-new",
    describe: "the editor for a new post",
    reach: async (browser) => {
      await admin.ensureSignedIn(browser);
      await browser.openAdmin("/admin/posts/new");
      await browser.mustShow("textarea#body");
    },
  },
  {
    name: "editor-preview",
    describe: "the editor showing a preview",
    reach: async (browser) => {
      await admin.ensureSignedIn(browser);
      await browser.openAdmin("/admin/posts/new");
      await admin.fillEditor(browser, { title: "A preview", body: admin.FIXTURE.body });
      await admin.editorButton(browser, "preview");
      await browser.mustShow(".preview h2", "Preview");
    },
  },
  {
    name: "editor-errors",
    describe: "the editor answering 422 to an empty post",
    announces: "",
    reach: async (browser) => {
      await admin.ensureSignedIn(browser);
      await browser.openAdmin("/admin/posts/new");
      await admin.editorButton(browser, "save");
      await browser.mustShow(".field-error");
    },
  },
  {
    name: "editor-stale",
    describe: "the editor answering 409 to an edit of an old version",
    announces: "",
    reach: async (browser) => {
      const edit = await admin.ensureDraft(browser);
      await browser.openAdmin(edit);
      // Two tabs, simulated: this form keeps the version it was opened with while the post is saved anew.
      const version = await browser.session.execute(
        "return document.querySelector('.editor-form input[name=version]').value;",
      );
      await browser.session.execute("document.getElementById('body').value += '\\n\\nSaved meanwhile.';");
      await admin.editorButton(browser, "save");
      await browser.session.execute(
        "document.querySelector('.editor-form input[name=version]').value = arguments[0];" +
          "document.getElementById('body').value += '\\n\\nMy own change.';",
        version,
      );
      await admin.editorButton(browser, "save");
      await browser.mustShow("#current-title", "The version saved meanwhile");
    },
  },
  {
    name: "files",
    describe: "the files page listing an upload",
    reach: async (browser) => {
      await admin.ensureSignedIn(browser);
      await files.ensureOneFile(browser);
    },
  },
  {
    name: "files-too-large",
    describe: "the answer to an upload over the size limit",
    announces: "too large",
    reach: async (browser) => {
      await admin.ensureSignedIn(browser);
      await browser.openAdmin("/files");
      await files.upload(browser, files.tempFile("too-large.bin", Buffer.alloc(1024 * 1024 + 1, 7)));
      await browser.mustShow("[role=alert]", "too large");
    },
  },
  {
    name: "users",
    describe: "the users page listing a user",
    reach: async (browser) => {
      await admin.ensureSignedIn(browser);
      await files.ensureOneUser(browser);
    },
  },
  {
    name: "users-duplicate",
    describe: "the users page answering 409 to an email already taken",
    announces: "",
    reach: async (browser) => {
      await admin.ensureSignedIn(browser);
      const taken = await files.ensureOneUser(browser);
      await files.addUser(browser, "Ada Again", taken.email.toUpperCase());
      await browser.mustShow("#email-error");
    },
  },
];

module.exports = { PAGES };
