// Progressive enhancement only: every page works without this file.
// A "Copy" button next to a read-only field copies the field's value.
document.querySelectorAll("[data-copy]").forEach((button) => {
  const field = document.querySelector(button.getAttribute("data-copy"));
  if (!field || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", () => {
    navigator.clipboard.writeText(field.value).then(() => {
      button.textContent = "Copied";
    });
  });
});
