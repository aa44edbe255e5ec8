// One accessible pop-up menu of radio items (the menu-button pattern):
// Enter, Space or ArrowDown on the button opens it on the chosen item
// (ArrowUp on the last one); arrows, Home and End move between items;
// Escape closes it and returns focus to the button, as does choosing an
// item; Tab or a click elsewhere closes it.

export function popupMenu(button, panel) {
  const items = () => [...panel.querySelectorAll('[role="menuitemradio"]')];
  const close = (refocus) => {
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    if (refocus) button.focus();
  };
  const open = (which) => {
    for (const other of document.querySelectorAll('.menu')) {
      if (other !== panel) other.hidden = true;
    }
    panel.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    const list = items();
    const checked = list.find((i) => i.getAttribute('aria-checked') === 'true');
    (which === 'last' ? list[list.length - 1] : checked || list[0])?.focus();
  };
  button.addEventListener('click', () => (panel.hidden ? open() : close(false)));
  button.addEventListener('keydown', (e) => {
    // Handled here so the page's arrow-key shortcuts (volume) stay off.
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    open(e.key === 'ArrowUp' ? 'last' : 'checked');
    e.preventDefault();
    e.stopPropagation();
  });
  panel.addEventListener('keydown', (e) => {
    const list = items();
    const at = list.indexOf(document.activeElement);
    if (e.key === 'Tab') { close(false); return; }
    if (e.key === 'Escape') close(true);
    else if (e.key === 'ArrowDown') list[(at + 1) % list.length]?.focus();
    else if (e.key === 'ArrowUp') list[(at - 1 + list.length) % list.length]?.focus();
    else if (e.key === 'Home') list[0]?.focus();
    else if (e.key === 'End') list[list.length - 1]?.focus();
    else return;
    e.preventDefault();
    e.stopPropagation();
  });
  document.addEventListener('click', (e) => {
    if (!panel.hidden && !panel.contains(e.target) && !button.contains(e.target)) close(false);
  });

  /** Replaces the items: `[{label, value, checked}]`; `pick(value)` on choice. */
  function fill(entries, pick) {
    panel.replaceChildren(...entries.map((entry) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.setAttribute('role', 'menuitemradio');
      b.setAttribute('aria-checked', String(Boolean(entry.checked)));
      // Items are reached with the arrow keys, not Tab (one tab stop per menu).
      b.tabIndex = -1;
      b.dataset.value = String(entry.value);
      b.textContent = entry.label;
      b.addEventListener('click', () => { pick(entry.value); close(true); });
      return b;
    }));
  }
  /** Marks the item with `value` as the chosen one. */
  function check(value) {
    for (const b of items()) b.setAttribute('aria-checked', String(b.dataset.value === String(value)));
  }
  return { fill, check, close };
}
