// One way to show a phone number on screen (issue 14 item 8): the national form a
// person reads and dials in China, grouped as the phonenumbers library formats it
// (138 0013 8000, 010 5129 7073, 0755 2664 2222, 400 800 1234), with the E.164 form
// (+8613800138000) kept for the title (hover). Pure: no DOM, no dictionary.
//
// Rules:
// - a Chinese number (+86..., or written nationally: 13800138000, 010-5129 7073,
//   0086..., 86 + 11 digits) is grouped by its kind: mobile 3-4-4, 400/800 3-3-4,
//   landline trunk 0 + area code (2 digits for 010 and 02x, else 3) + local number
//   in groups of 4 from the right end (7 digits: 3-4);
// - anything else (a foreign number, an extension, a short code like 95588, text)
//   is shown as it came, trimmed: never guessed at;
// - never throws: numbers come from the phone network and may be anything.

const WRITTEN = /^\+?[0-9 ().\-\u3000]+$/;

/** The national digits of a Chinese number written in any usual way, else null;
 * ``landline``: written with the country code or the trunk 0, so an area code may
 * start it (bare digits are only taken as a mobile or a 400/800 number). */
export function chineseDigits(value) {
  const text = String(value ?? "").trim();
  if (!text || !WRITTEN.test(text)) return null;
  const digits = text.replace(/\D/g, "");
  if (text.startsWith("+")) return digits.startsWith("86") ? { n: digits.slice(2), landline: true } : null;
  if (digits.startsWith("0086")) return { n: digits.slice(4), landline: true };
  if (/^86(1\d{10}|[48]00\d{7})$/.test(digits)) return { n: digits.slice(2), landline: false };
  if (digits.startsWith("0")) return { n: digits.slice(1), landline: true }; // trunk prefix
  return { n: digits, landline: false };
}

function groupsFromEnd(digits) {
  // a local number: 8 digits 4-4, 7 digits 3-4
  return digits.length > 4 ? `${digits.slice(0, -4)} ${digits.slice(-4)}` : digits;
}

/** The grouped national form of national digits ``n``, or null when not a known kind. */
function national({ n, landline }) {
  if (/^1\d{10}$/.test(n)) return `${n.slice(0, 3)} ${n.slice(3, 7)} ${n.slice(7)}`;
  if (/^[48]00\d{7}$/.test(n)) return `${n.slice(0, 3)} ${n.slice(3, 6)} ${n.slice(6)}`;
  if (!landline) return null;
  // landlines: area code 10 or 2x (two digits), else three digits; local 7-8 digits
  const area = /^(10|2\d)/.test(n) ? 2 : 3;
  const local = n.slice(area);
  if (/^[1-9]\d{6,7}$/.test(local) && /^[1-9]/.test(n)) return `0${n.slice(0, area)} ${groupsFromEnd(local)}`;
  return null;
}

/**
 * ``{text, title}`` for a phone number: ``text`` the readable national form (or the
 * value as it came), ``title`` the E.164 form for a Chinese number (else the value).
 */
export function formatPhone(value) {
  const raw = String(value ?? "").trim();
  if (!raw) return { text: "", title: "" };
  const found = chineseDigits(raw);
  const text = found ? national(found) : null;
  if (!text) return { text: raw, title: raw };
  return { text, title: `+86${found.n}` };
}

/** Just the readable text (for sentences: "Calling 138 0013 8000"). */
export function phoneText(value) {
  return formatPhone(value).text;
}
