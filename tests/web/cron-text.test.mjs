// Cron expressions worded for people (web/cron-text.js), in English and Spanish; what it cannot
// word exactly comes back raw (`node --test tests/web`).
import { test } from 'node:test';
import assert from 'node:assert/strict';

const { cronText } = await import('../../web/cron-text.js');

const CASES = [
  // [expression, English, Spanish]
  ['* * * * *', 'every minute', 'cada minuto'],
  ['*/1 * * * *', 'every minute', 'cada minuto'],
  ['*/5 * * * *', 'every 5 minutes', 'cada 5 minutos'],
  ['0/15 * * * *', 'every 15 minutes', 'cada 15 minutos'],
  ['0 * * * *', 'every hour', 'cada hora'],
  ['20 * * * *', 'every hour at minute 20', 'cada hora en el minuto 20'],
  ['0 */2 * * *', 'every 2 hours', 'cada 2 horas'],
  ['30 */6 * * *', 'every 6 hours at minute 30', 'cada 6 horas en el minuto 30'],
  ['0 3 * * *', 'every day at 03:00', 'todos los días a las 03:00'],
  ['45 3 * * *', 'every day at 03:45', 'todos los días a las 03:45'],
  ['5 0 * * *', 'every day at 00:05', 'todos los días a las 00:05'],
  ['0 1 * * *', 'every day at 01:00', 'todos los días a la 01:00'],
  ['0 13 * * *', 'every day at 13:00', 'todos los días a las 13:00'],
  ['0 9,18 * * *', 'every day at 09:00 and 18:00', 'todos los días a las 09:00 y 18:00'],
  ['0,30 9 * * *', 'every day at 09:00 and 09:30', 'todos los días a las 09:00 y 09:30'],
  ['0 9 * * 1', 'every Monday at 09:00', 'los lunes a las 09:00'],
  ['0 9 * * MON', 'every Monday at 09:00', 'los lunes a las 09:00'],
  ['0 9 * * 0', 'every Sunday at 09:00', 'los domingos a las 09:00'],
  ['0 9 * * 1-5', 'Monday to Friday at 09:00', 'de lunes a viernes a las 09:00'],
  ['0 9 * * mon-fri', 'Monday to Friday at 09:00', 'de lunes a viernes a las 09:00'],
  ['0 9 * * 1,3,5', 'every Monday, Wednesday and Friday at 09:00', 'los lunes, miércoles y viernes a las 09:00'],
  ['0 10 * * 0,6', 'every Saturday and Sunday at 10:00', 'los sábados y domingos a las 10:00'],
  ['0 8 * * 0-7', 'every day at 08:00', 'todos los días a las 08:00'],
  ['*/15 9-17 * * 1-5', 'every 15 minutes between 09:00 and 17:59, Monday to Friday', 'cada 15 minutos entre las 09:00 y las 17:59, de lunes a viernes'],
  ['*/10 * * * 6', 'every 10 minutes, on Saturdays', 'cada 10 minutos, los sábados'],
  ['* 1-3 * * *', 'every minute between 01:00 and 03:59', 'cada minuto entre la 01:00 y las 03:59'],
  ['30 8-18 * * *', 'every hour from 08:30 to 18:30', 'cada hora de las 08:30 a las 18:30'],
  ['0 3 1 * *', 'on day 1 of every month at 03:00', 'el día 1 de cada mes a las 03:00'],
  ['0 3 1,15 * *', 'on day 1 and 15 of every month at 03:00', 'el día 1 y 15 de cada mes a las 03:00'],
  ['0 0 1 1 *', 'on 1 January at 00:00', 'el 1 de enero a las 00:00'],
  ['0 12 25 DEC *', 'on 25 December at 12:00', 'el 25 de diciembre a las 12:00'],
];

test('common schedules read as sentences in English and Spanish', () => {
  for (const [expr, en, es] of CASES) {
    assert.equal(cronText(expr, 'en'), en, expr);
    assert.equal(cronText(expr, 'es'), es, expr);
  }
});

test('extra spaces do not matter; an unknown language reads English', () => {
  assert.equal(cronText('  */5   *  * * * ', 'en'), 'every 5 minutes');
  assert.equal(cronText('0 3 * * *', 'fr'), 'every day at 03:00');
  assert.equal(cronText('0 3 * * *'), 'every day at 03:00');
});

test('what it cannot word exactly, or what is not a cron expression, comes back raw', () => {
  for (const raw of [
    '', '* * * *', '* * * * * *', '0 3 * * * 2026', 'nonsense here at all x',
    '61 * * * *', '0 24 * * *', '*/0 * * * *', '*/60 * * * *', '0 3 32 * *', '0 3 * 13 *', '0 3 * * 8',
    '0 3 1-7 * *', '0 3 */2 * *', '0 3 * 1-6 *', '0 3 1 1,7 *', '0 3 * * */2', '0 3 * * 5-1',
    '0 3 1 * 1', '5,10 */2 * * *', '*/5 9,17 * * *', '0-30 * * * *', '1,2,3 1,2,3 * * *', '0 0 * JAN *',
    '0 3 L * *', '0 3 * * 1#2', '0 3 ? * *', '0 3,3 * * *',
  ]) {
    assert.equal(cronText(raw, 'en'), raw.trim(), JSON.stringify(raw));
    assert.equal(cronText(raw, 'es'), raw.trim(), JSON.stringify(raw));
  }
  assert.equal(cronText(null, 'es'), '');
});

test('the server\'s recommended schedules are all worded', () => {
  for (const s of ['0 3 * * *', '30 3 * * *', '45 3 * * *', '5 0 * * *', '* * * * *', '15 4 * * *', '*/5 * * * *', '20 * * * *']) {
    for (const lang of ['en', 'es']) assert.notEqual(cronText(s, lang), s, `${s} ${lang}`);
  }
});
