// Navigation, apart from app.js so views can navigate without importing the app.
let router = null;

export function setRouter(fn) {
  router = fn;
}

export function go(hash) {
  if (location.hash === hash) router?.();
  else location.hash = hash;
}
