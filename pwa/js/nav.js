// Navigation, apart from app.js so views can navigate without importing the app.
let router = null;

export function setRouter(fn) {
  router = fn;
}

// replace: the screen left behind is not one Back should return to (a saved check).
export function go(hash, { replace = false } = {}) {
  if (location.hash === hash) router?.();
  else if (replace) {
    history.replaceState(null, "", hash);
    router?.();
  } else location.hash = hash;
}
