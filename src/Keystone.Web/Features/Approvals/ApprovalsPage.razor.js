// The reader's IANA time zone (Europe/Paris), so the approvals page shows times as the reader lives them.
export function timeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch {
    return null;
  }
}
