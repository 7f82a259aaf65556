// A screen's writes of its record to the phone, one after the other: the last field's
// change never lands after the final save. A write that failed (a full phone) does not
// stop the ones after it: freed space, the next tap on Save stores the record.
export function saveChain() {
  let last = Promise.resolve();
  return (write) => {
    last = last.catch(() => null).then(write);
    return last;
  };
}
