// A screen that draws itself again into the same element (its filters applied) while the
// draw before may still be waiting on the network: only the latest draw may write to the
// element, and the draw before stops what it started (listeners, observers). Otherwise an
// earlier answer arriving last, or a listener nobody stopped, puts its rows back over the
// latest ones.
const latest = new WeakMap();

export function startDraw(view) {
  latest.get(view)?.stop();
  const undos = [];
  const draw = {
    // True once a later draw of the same element has begun: write nothing more.
    stale: () => latest.get(view) !== draw,
    // What to undo when this draw is replaced or the screen is left.
    onStop: (undo) => { undos.push(undo); },
    stop: () => { for (const undo of undos.splice(0)) undo(); },
    // For the router: leaving the screen stops whichever draw is the latest by then.
    leave: () => latest.get(view)?.stop(),
  };
  latest.set(view, draw);
  return draw;
}
