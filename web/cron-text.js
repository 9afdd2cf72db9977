// A cron expression (5 fields: minute hour day-of-month month day-of-week, as the scheduler
// reads them) worded for people in English or Spanish: "every 5 minutes", "every day at 03:00",
// "cada 5 minutos", "todos los días a las 03:00". Pure (no DOM, no i18n state): the caller passes
// the language. What it cannot word exactly comes back as the expression itself, never a guess.

const WORDS = {
  en: {
    days: ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'],
    months: ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'],
    and: 'and',
    everyMinute: 'every minute',
    everyMinutes: (n) => `every ${n} minutes`,
    everyHour: 'every hour',
    everyHours: (n) => `every ${n} hours`,
    atMinute: (m) => `at minute ${m}`,
    everyDay: 'every day',
    at: (times) => `at ${times}`,
    between: (a, b) => `between ${a} and ${b}`,
    fromTo: (a, b) => `from ${a} to ${b}`,
    // Before a time ("every Monday at 09:00") and after an interval ("every 5 minutes, on Mondays").
    dayList: (names) => `every ${names}`,
    dayListAfter: (names) => `on ${names}`,
    plural: (d) => `${d}s`,
    dayRange: (a, b) => `${a} to ${b}`,
    monthDays: (days) => `on day ${days} of every month`,
    monthDaysAfter: (days) => `on day ${days} of every month`,
    date: (day, month) => `on ${day} ${month}`,
  },
  es: {
    days: ['domingo', 'lunes', 'martes', 'miércoles', 'jueves', 'viernes', 'sábado'],
    months: ['enero', 'febrero', 'marzo', 'abril', 'mayo', 'junio', 'julio', 'agosto', 'septiembre', 'octubre', 'noviembre', 'diciembre'],
    and: 'y',
    everyMinute: 'cada minuto',
    everyMinutes: (n) => `cada ${n} minutos`,
    everyHour: 'cada hora',
    everyHours: (n) => `cada ${n} horas`,
    atMinute: (m) => `en el minuto ${m}`,
    everyDay: 'todos los días',
    at: (times, first) => `${first === 1 ? 'a la' : 'a las'} ${times}`,
    between: (a, b, ha) => `entre ${ha === 1 ? 'la' : 'las'} ${a} y las ${b}`,
    fromTo: (a, b, ha) => `de ${ha === 1 ? 'la' : 'las'} ${a} a las ${b}`,
    dayList: (names, plurals) => `los ${plurals}`,
    dayListAfter: (names) => `los ${names}`,
    plural: (d) => (d.endsWith('s') ? d : `${d}s`),
    dayRange: (a, b) => `de ${a} a ${b}`,
    monthDays: (days) => `el día ${days} de cada mes`,
    monthDaysAfter: (days) => `el día ${days} de cada mes`,
    date: (day, month) => `el ${day} de ${month}`,
  },
};

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** A number in [min, max] (a name from `names` counts as its index + `base`), else null. */
function num(text, min, max, names = null, base = 0) {
  let n = null;
  if (/^\d{1,2}$/.test(text)) n = Number(text);
  else if (names) {
    const i = names.indexOf(text.toLowerCase());
    if (i >= 0) n = i + base;
  }
  return n !== null && n >= min && n <= max ? n : null;
}

/** `*` -> { any }, `*\/n` -> { step }, `a-b` -> { range }, `a,b,c` -> { list }, else null. */
function parseField(text, min, max, names, base) {
  if (text === '*') return { any: true };
  let m = /^(?:\*|0)\/(\d{1,2})$/.exec(text);
  if (m) {
    const step = Number(m[1]);
    return step >= 1 && step <= max ? { step } : null;
  }
  m = /^([^-,/]+)-([^-,/]+)$/.exec(text);
  if (m) {
    const a = num(m[1], min, max, names, base);
    const b = num(m[2], min, max, names, base);
    return a !== null && b !== null && a < b ? { range: [a, b] } : null;
  }
  const parts = text.split(',');
  const list = parts.map((p) => num(p, min, max, names, base));
  if (list.some((x) => x === null)) return null;
  if (new Set(list).size !== list.length) return null;
  return { list: [...list].sort((x, y) => x - y) };
}

const pad = (n) => String(n).padStart(2, '0');
const hhmm = (h, m) => `${pad(h)}:${pad(m)}`;

function joinAnd(items, w) {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} ${w.and} ${items[items.length - 1]}`;
}

/** The days part: { before, after } or null when it cannot be worded; '' for every day. */
function daysPart(dom, month, dow, w) {
  if (dom.any && month.any && dow.any) return { before: w.everyDay, after: '' };
  if (dom.any && month.any) {
    // Sunday is 0 or 7.
    if (dow.range) {
      const [a, b] = dow.range;
      if (b === 7 && a === 0) return { before: w.everyDay, after: '' };
      const names = [w.days[a % 7], w.days[b % 7]];
      const text = w.dayRange(...names);
      return { before: text, after: text };
    }
    if (dow.list) {
      const days = [...new Set(dow.list.map((d) => d % 7))].sort((x, y) => ((x + 6) % 7) - ((y + 6) % 7));
      if (days.length === 7) return { before: w.everyDay, after: '' };
      const names = days.map((d) => w.days[d]);
      const plurals = joinAnd(names.map(w.plural), w);
      return { before: w.dayList(joinAnd(names, w), plurals), after: w.dayListAfter(plurals) };
    }
    return null;
  }
  if (dow.any && month.any && dom.list) {
    const days = joinAnd(dom.list.map(String), w);
    return { before: w.monthDays(days), after: w.monthDaysAfter(days) };
  }
  if (dow.any && month.list?.length === 1 && dom.list?.length === 1) {
    const text = w.date(dom.list[0], w.months[month.list[0] - 1]);
    return { before: text, after: text };
  }
  return null;
}

/**
 * `expression` in words in `lang` ('en' or 'es'; anything else reads as English), or the
 * expression itself (trimmed) when it has a form this does not word.
 */
export function cronText(expression, lang = 'en') {
  const raw = String(expression ?? '').trim();
  const w = WORDS[lang] ?? WORDS.en;
  const f = raw.split(/\s+/);
  if (f.length !== 5) return raw;
  const minute = parseField(f[0], 0, 59);
  const hour = parseField(f[1], 0, 23);
  const dom = parseField(f[2], 1, 31);
  const month = parseField(f[3], 1, 12, MONTH_NAMES, 1);
  const dow = parseField(f[4], 0, 7, DAY_NAMES, 0);
  if (!minute || !hour || !dom || !month || !dow) return raw;
  // Steps, ranges of days of the month or of months, and lists of several months are left raw.
  if (dom.step || dom.range || month.step || month.range || dow.step) return raw;
  const days = daysPart(dom, month, dow, w);
  if (!days) return raw;
  const withDays = (interval) => (days.after ? `${interval}, ${days.after}` : interval);

  // Fixed times of day: "every day at 03:00", "los lunes a las 09:00".
  if (minute.list && hour.list) {
    if (minute.list.length * hour.list.length > 6) return raw;
    const times = hour.list.flatMap((h) => minute.list.map((m) => hhmm(h, m)));
    return `${days.before} ${w.at(joinAnd(times, w), times.length === 1 ? hour.list[0] : null)}`;
  }
  // Intervals through the whole day.
  if (hour.any) {
    if (minute.any) return withDays(w.everyMinute);
    if (minute.step) return withDays(minute.step === 1 ? w.everyMinute : w.everyMinutes(minute.step));
    if (minute.list?.length === 1) {
      const m = minute.list[0];
      return withDays(m === 0 ? w.everyHour : `${w.everyHour} ${w.atMinute(m)}`);
    }
    return raw;
  }
  if (hour.step && minute.list?.length === 1) {
    const m = minute.list[0];
    const every = hour.step === 1 ? w.everyHour : w.everyHours(hour.step);
    return withDays(m === 0 ? every : `${every} ${w.atMinute(m)}`);
  }
  // Intervals within a range of hours: "every 15 minutes between 09:00 and 17:59".
  if (hour.range) {
    const [a, b] = hour.range;
    if (minute.any || minute.step) {
      const every = minute.any || minute.step === 1 ? w.everyMinute : w.everyMinutes(minute.step);
      return withDays(`${every} ${w.between(hhmm(a, 0), hhmm(b, 59), a)}`);
    }
    if (minute.list?.length === 1) {
      const m = minute.list[0];
      return withDays(`${w.everyHour} ${w.fromTo(hhmm(a, m), hhmm(b, m), a)}`);
    }
  }
  return raw;
}
