// Every page state a person can land on. The layout suite (screenshots, overflow) and the accessibility suite
// (axe-core, labels, focus) run over this list, so a new page gets both by adding one entry here.
//
// An entry: { name, path, describe, reach(browser) } where reach() brings the browser to that state and
// returns once the page is loaded. `name` becomes the screenshot's file name.
"use strict";

const board = require("./board");

const PAGES = [
  {
    name: "board",
    describe: "the board with an empty form",
    reach: (browser) => browser.open("/"),
  },
  {
    name: "board-errors",
    describe: "the board answering 422 to a 7-digit number",
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
  // The blog (issue 6) lands here: add "blog" (the public list), "blog-post" (one post) and
  // "admin-sign-in" (the sign-in form, plus its error state) with the reach() that gets there; its flows
  // (sign in, write, publish, see it public) go in blog.test.js beside board.test.js.
  //
  // The files page (issue 5) lands here: add "files" (the list after one upload) and its upload error state;
  // its flows (upload, see it listed, download) go in files.test.js.
];

module.exports = { PAGES };
