// Accessibility checks run inside the page: axe-core, labels, focus visibility, error announcements.
"use strict";

const fs = require("node:fs");
const { Key } = require("./webdriver");

const AXE_SOURCE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/**
 * Runs axe-core in the current page (WCAG 2.0-2.2 A and AA plus best practices) and returns the violations,
 * each as { id, impact, help, targets }. axe is injected through WebDriver, not a <script> tag, so the page's
 * strict CSP stays as it is.
 */
async function runAxe(browser) {
  await browser.session.execute(`${AXE_SOURCE}\n;return typeof window.axe;`);
  const result = await browser.session.executeAsync(`
    const done = arguments[arguments.length - 1];
    window.axe
      .run(document, { resultTypes: ["violations"] })
      .then((r) => done({ ok: true, violations: r.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(" ")) })) }))
      .catch((e) => done({ ok: false, error: String(e) }));`);
  if (!result.ok) throw new Error(`axe-core failed in the page: ${result.error}`);
  return result.violations;
}

/** Form controls a person can fill but that have no accessible name from a label, aria-label(ledby). */
function unlabelledControls(browser) {
  return browser.session.execute(`
    const controls = document.querySelectorAll("input:not([type=hidden]), select, textarea");
    return Array.from(controls).filter((c) => {
      const fromLabels = Array.from(c.labels || []).some((l) => l.textContent.trim() !== "");
      const fromAria = (c.getAttribute("aria-label") || "").trim() !== "" ||
        (c.getAttribute("aria-labelledby") || "").split(/\\s+/).some((id) => {
          const e = id && document.getElementById(id);
          return e && e.textContent.trim() !== "";
        });
      return !fromLabels && !fromAria;
    }).map((c) => c.outerHTML);`);
}

// Colour helpers for scripts run in the page: parse rgb(a), WCAG contrast, the background behind an element.
const COLOR_HELPERS = `
  function rgba(text) {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  }
  function luminance(c) {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  }
  function contrast(a, b) {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  }
  function backgroundBehind(element) {
    for (let e = element; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) return c;
    }
    return rgba(getComputedStyle(document.documentElement).backgroundColor) || { r: 255, g: 255, b: 255, a: 1 };
  }`;

// Runs in the page: the focus indicator of the active element, and its contrast with what surrounds it.
const FOCUS_PROBE = `${COLOR_HELPERS}
  const e = document.activeElement;
  const s = getComputedStyle(e);
  const outline = rgba(s.outlineColor);
  const behind = backgroundBehind(e.parentElement || e);
  return {
    tag: e.tagName.toLowerCase(), id: e.id, text: (e.textContent || e.name || "").trim().slice(0, 30),
    focusVisible: e.matches(":focus-visible"),
    outlineStyle: s.outlineStyle, outlineWidth: parseFloat(s.outlineWidth) || 0,
    outlineContrast: outline ? Math.round(contrast(outline, behind) * 100) / 100 : 0,
    boxShadow: s.boxShadow,
  };`;

/**
 * Walks the page with Tab, as a keyboard user does, and reports every stop: which element, whether the
 * browser treats its focus as visible, and the outline it draws (style, width, contrast against the
 * background around it). Stops when focus leaves the page or comes back to the first stop.
 */
async function tabStops(browser, maxStops = 40) {
  await browser.session.execute("if (document.activeElement) document.activeElement.blur(); window.scrollTo(0, 0);");
  const stops = [];
  for (let i = 0; i < maxStops; i += 1) {
    await browser.session.keys([Key.TAB]);
    const stop = await browser.session.execute(FOCUS_PROBE);
    if (stop.tag === "body") break;
    if (stops.length > 0 && stop.tag === stops[0].tag && stop.id === stops[0].id && stop.text === stops[0].text) break;
    stops.push(stop);
  }
  return stops;
}

/**
 * Visible form controls whose edge (border colour) has less than 3:1 contrast with the background around
 * them (WCAG 1.4.11): a person must be able to see where to type.
 */
function faintControls(browser) {
  return browser.session.execute(`${COLOR_HELPERS}
    return Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea"))
      .filter((c) => c.getBoundingClientRect().width > 1)
      .map((c) => {
        const border = rgba(getComputedStyle(c).borderTopColor);
        return { id: c.id, contrast: border ? Math.round(contrast(border, backgroundBehind(c.parentElement)) * 100) / 100 : 0 };
      })
      .filter((c) => c.contrast < 3);`);
}

/**
 * How the page tells a person about its errors: live regions, and for each field marked invalid, the
 * messages its aria-describedby points at. Also lists error messages no control refers to.
 */
function errorAnnouncements(browser) {
  return browser.session.execute(`
    const text = (e) => (e ? e.textContent.replace(/\\s+/g, " ").trim() : "");
    const live = Array.from(document.querySelectorAll("[role=alert], [aria-live=assertive], [aria-live=polite]"))
      .map((e) => ({ role: e.getAttribute("role"), live: e.getAttribute("aria-live"), text: text(e) }));
    const described = new Set();
    const invalid = Array.from(document.querySelectorAll("[aria-invalid=true]")).map((c) => {
      const ids = (c.getAttribute("aria-describedby") || "").split(/\\s+/).filter(Boolean);
      ids.forEach((id) => described.add(id));
      return { id: c.id, describedBy: ids.map((id) => text(document.getElementById(id))) };
    });
    document.querySelectorAll("[aria-describedby]").forEach((e) =>
      e.getAttribute("aria-describedby").split(/\\s+/).forEach((id) => described.add(id)));
    const orphans = Array.from(document.querySelectorAll(".field-error"))
      .filter((m) => !m.id || !described.has(m.id)).map((m) => text(m));
    return { live, invalid, orphans, focused: document.activeElement ? document.activeElement.id : "" };`);
}

module.exports = { runAxe, unlabelledControls, faintControls, tabStops, errorAnnouncements };
