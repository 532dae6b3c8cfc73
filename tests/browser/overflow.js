// Elements inside the selector that are wider than their box or spill out of their parent.
// Used by tests/browser/conftest.py: assert_no_horizontal_overflow.
(selector) => {
            const root = document.querySelector(selector);
            const out = [];
            if (document.documentElement.scrollWidth > window.innerWidth + 1) {
                out.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
            }
            for (const el of root.querySelectorAll('*')) {
                const style = getComputedStyle(el);
                if (style.display === 'inline' || el.closest('[data-scrolls]')) continue;
                if (el.scrollWidth > el.clientWidth + 1 && style.overflowX !== 'auto' && style.overflowX !== 'scroll') {
                    out.push(`${el.tagName.toLowerCase()}.${el.className} ${el.scrollWidth}>${el.clientWidth}`);
                }
                const parent = el.parentElement;
                if (parent && parent !== root.parentElement) {
                    const r = el.getBoundingClientRect(), p = parent.getBoundingClientRect();
                    if (r.right > p.right + 1 && getComputedStyle(parent).overflowX === 'visible' && r.width > 0) {
                        out.push(`${el.tagName.toLowerCase()}.${el.className} spills out of ${parent.tagName.toLowerCase()}.${parent.className}`);
                    }
                }
            }
            return out.slice(0, 10);
        }
