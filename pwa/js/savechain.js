// A screen's writes of its record to the phone, one after the other: the last field's
// change never lands after the final save. A write that failed (a full phone) does not
// stop the ones after it: freed space, the next tap on Save stores the record.
import { t } from "./i18n.js";
import { toast } from "./ui.js";

export function saveChain() {
  let last = Promise.resolve();
  return (write) => {
    last = last.catch(() => null).then(write);
    return last;
  };
}

// The final save, through the screen's chain: true once the record is on the phone;
// otherwise the user is told it is NOT saved (with the browser's reason), and false.
export async function savedOrSaid(chain, write) {
  try {
    await chain(write);
    return true;
  } catch (error) {
    toast(`${t("recordNotSaved")} (${error.name || error.message})`, "error");
    return false;
  }
}

// A screen's first save (or read), awaited once its handlers are wired: should it fail,
// the screen lets go of what it holds (GPS, wake lock, listeners) before the error goes
// on. Answers the screen's `stop` for the router.
export async function afterFirst(first, stop) {
  try {
    await first;
  } catch (error) {
    stop();
    throw error;
  }
  return stop;
}
