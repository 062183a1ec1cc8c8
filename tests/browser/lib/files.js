// The files page (/files) and the users page (/users), as a person uses them: files to upload are made in
// a temporary folder and chosen through the file input; the list is read off the page.
"use strict";

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

// A real 1x1 PNG: the server sniffs the type from the bytes, so the list must say image/png.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

let folder = null;
/** A file in this process's temporary folder (removed when the process ends); returns its absolute path. */
function tempFile(name, bytes) {
  if (!folder) {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), "stratus-browser-files-"));
    process.on("exit", () => fs.rmSync(folder, { recursive: true, force: true }));
  }
  const file = path.join(folder, name);
  fs.writeFileSync(file, bytes);
  return file;
}

/** Chooses `file` (an absolute path) in the upload form's file input and clicks Upload. */
async function upload(browser, file) {
  const input = await browser.session.find("input[type=file]#file");
  await input.sendKeys(file);
  await browser.clickAndWait("form.upload-form button[type=submit]", "the page answering the upload");
}

/** The files listed on the page: name, size, type, owner, the download link and the delete button's label. */
function listedFiles(browser) {
  return browser.session.execute(`
    return Array.from(document.querySelectorAll(".file-list li.file"), (li) => {
      const link = li.querySelector("a.file-name");
      const meta = li.querySelector(".file-meta");
      const parts = (meta ? meta.textContent : "").replace(/\\s+/g, " ").trim().split(" · ");
      const button = li.querySelector("form button");
      return { name: link.textContent.trim(), href: link.href, download: link.hasAttribute("download"),
               size: parts[0], type: parts[1], owner: parts[2],
               deleteLabel: button ? (button.getAttribute("aria-label") || button.textContent.trim()) : null };
    });`);
}

/** Makes sure the files list on the admin server has at least one file (uploads one when it is empty). */
async function ensureOneFile(browser) {
  await browser.openAdmin("/files");
  if ((await listedFiles(browser)).length > 0) return;
  await upload(browser, tempFile("pixel.png", PNG));
  if ((await listedFiles(browser)).length === 0) throw new Error("the upload did not show up in the list");
}

/** Fills the add-a-user form and submits it. */
async function addUser(browser, name, email) {
  await browser.session.execute(
    `document.getElementById("name").value = arguments[0]; document.getElementById("email").value = arguments[1];`,
    name,
    email,
  );
  await browser.clickAndWait("form[action='/users'] button[type=submit]", "the page answering the new user");
}

/** The users listed on the page: name and email. */
function listedUsers(browser) {
  return browser.session.execute(`
    return Array.from(document.querySelectorAll(".user-list li.user"), (li) => ({
      name: li.querySelector(".user-name").textContent.trim(),
      email: li.querySelector(".user-email").textContent.trim(),
    }));`);
}

/** Makes sure the admin server has at least one user; returns the first listed. */
async function ensureOneUser(browser) {
  await browser.openAdmin("/users");
  let users = await listedUsers(browser);
  if (users.length === 0) {
    const id = `${process.pid}-${Date.now().toString(36)}`;
    await addUser(browser, "Ada Lovelace", `ada-${id}@example.com`);
    users = await listedUsers(browser);
    if (users.length === 0) throw new Error("the new user did not show up in the list");
  }
  return users[0];
}

module.exports = { PNG, tempFile, upload, listedFiles, ensureOneFile, addUser, listedUsers, ensureOneUser };
