// Progressive enhancement only: every page works without this file. It adds a "Copy"
// button to each code snippet where the browser allows clipboard access.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  if (!navigator.clipboard) return;
  for (const button of document.querySelectorAll("button.copy[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source) continue;
    const label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", () => {
      navigator.clipboard.writeText(source.textContent).then(
        () => {
          button.textContent = button.dataset.copied;
          setTimeout(() => { button.textContent = label; }, 2000);
        },
        () => { button.hidden = true; },
      );
    });
  }
});
