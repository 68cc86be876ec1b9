// The message catalogue: static/i18n/<lang>/<namespace>.json, flat keys "<namespace>.<key>" (a namespace is a
// page, or "shell"). t(key, vars) translates, filling {name} placeholders. The language is remembered in
// localStorage; the first visit follows the browser (Chinese browsers get zh-CN).

export const LANGUAGES = ['en', 'zh-CN'];
const LANG_STORAGE = 'millstream.lang';
const catalogues = new Map(); // "lang/namespace" -> {key: text}
let language = initialLanguage();

function initialLanguage() {
  const stored = localStorage.getItem(LANG_STORAGE);
  if (LANGUAGES.includes(stored)) return stored;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export function currentLanguage() {
  return language;
}

async function load(lang, namespaces) {
  await Promise.all(namespaces.map(async (ns) => {
    const id = `${lang}/${ns}`;
    if (catalogues.has(id)) return;
    const response = await fetch(`/static/i18n/${id}.json`, { cache: 'no-cache' });
    catalogues.set(id, response.ok ? await response.json() : {});
  }));
}

/** Load the catalogue files of ``namespaces`` for the current language (cached). */
export async function loadNamespaces(...namespaces) {
  await load(language, namespaces);
}

/** Switch language (remembered): what was loaded is loaded in the new language first, so that no text is
 * ever looked up in a catalogue not there yet. */
export async function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) return;
  const loaded = [...catalogues.keys()].filter((id) => id.startsWith(`${language}/`)).map((id) => id.split('/')[1]);
  await load(lang, loaded);
  language = lang;
  localStorage.setItem(LANG_STORAGE, lang);
  document.documentElement.lang = lang;
}

/** The text of ``key`` in the current language with {placeholders} filled; the key itself if missing. */
export function t(key, vars = {}) {
  const ns = key.split('.', 1)[0];
  const text = catalogues.get(`${language}/${ns}`)?.[key];
  if (text === undefined) {
    console.warn(`i18n: no text for ${key} in ${language}`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** Whether the current language's catalogue has ``key`` (loaded namespaces only). */
export function hasText(key) {
  const ns = key.split('.', 1)[0];
  return catalogues.get(`${language}/${ns}`)?.[key] !== undefined;
}

/** An alert's title in the current language: the catalogue's text for its type
 * (``shell.alerts.type.<alert_type>``, {subject} filled with its subject id); the server's English title only
 * for a type the catalogue lacks. */
export function alertTitle(alert) {
  const key = `shell.alerts.type.${alert.alert_type}`;
  return hasText(key) ? t(key, { subject: alert.subject_id }) : (alert.title || alert.alert_type);
}

/** Fill elements carrying data-i18n="key" (text) or data-i18n-title / data-i18n-placeholder / data-i18n-aria-label. */
export function translateTree(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const attr of ['title', 'placeholder', 'aria-label']) {
    const data = `data-i18n-${attr}`;
    for (const el of root.querySelectorAll(`[${data}]`)) el.setAttribute(attr, t(el.getAttribute(data)));
  }
}
