// «Копировать» and «Поделиться» beside a one-time link: shown only when scripts run and
// the browser can do it (without them the link stays selectable in its field).
document.querySelectorAll("[data-copy]").forEach(function (button) {
  var field = document.getElementById(button.getAttribute("data-copy"));
  var done = button.parentNode.querySelector(".copy-done");
  if (!field) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    var say = function (text) { if (done) { done.textContent = text; } };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(field.value).then(
        function () { say("Ссылка скопирована."); },
        function () { field.select(); say("Выделено: нажмите Ctrl+C."); });
    } else {
      field.select();
      say(document.execCommand && document.execCommand("copy") ? "Ссылка скопирована." : "Выделено: нажмите Ctrl+C.");
    }
  });
});
document.querySelectorAll("[data-share]").forEach(function (button) {
  var field = document.getElementById(button.getAttribute("data-share"));
  if (!field || !navigator.share) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.share({ title: button.getAttribute("data-share-title") || "", url: field.value })
      .catch(function () {});
  });
});
