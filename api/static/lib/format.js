// Dates and numbers for people: in the browser's time zone and the chosen language (Intl).

import { currentLanguage } from './i18n.js';

const STYLES = {
  datetime: { dateStyle: 'medium', timeStyle: 'medium' },
  date: { dateStyle: 'medium' },
  time: { timeStyle: 'medium' },
  short: { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' },
};
const cache = new Map();

function formatter(style) {
  const key = `${currentLanguage()}|${style}`;
  if (!cache.has(key)) cache.set(key, new Intl.DateTimeFormat(currentLanguage(), STYLES[style] || STYLES.datetime));
  return cache.get(key);
}

/** A timestamp (ISO string, Date or epoch ms) in the browser's time zone; '' for null. */
export function formatTime(value, style = 'datetime') {
  if (value === null || value === undefined || value === '') return '';
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : formatter(style).format(date);
}

export function formatNumber(value, options = {}) {
  return new Intl.NumberFormat(currentLanguage(), options).format(value);
}

/** The browser's time zone name (shown so people know what the times mean). */
export function timeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
