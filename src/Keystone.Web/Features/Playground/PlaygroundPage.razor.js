// Keyboard and clipboard for the playground. Enter sends, Shift+Enter keeps the newline, Esc stops a stream.
export function attach(textarea, dotnet) {
    const onKey = e => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            dotnet.invokeMethodAsync('SendFromKeyboard', textarea.value);
        }
    };
    const onDocumentKey = e => {
        if (e.key === 'Escape') {
            dotnet.invokeMethodAsync('StopFromKeyboard');
        }
    };
    textarea.addEventListener('keydown', onKey);
    document.addEventListener('keydown', onDocumentKey);
    textarea._ksDetach = () => {
        textarea.removeEventListener('keydown', onKey);
        document.removeEventListener('keydown', onDocumentKey);
    };
}

export function detach(textarea) {
    if (textarea && textarea._ksDetach) {
        textarea._ksDetach();
        delete textarea._ksDetach;
    }
}

export async function copyText(text) {
    try {
        await navigator.clipboard.writeText(text);
        return true;
    } catch {
        return false;
    }
}

// The reader's IANA time zone, so refusals and resets read in local time.
export function timeZone() {
    try {
        return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
    } catch {
        return null;
    }
}
