// Texts of the pages in English and Italian, and the formatting of times.
// The language is the participant's (from the session), else ?lang= in the
// URL, else the browser's; English when none of them is known.

const messages = {
  en: {
    appName: 'Video visit',
    loading: 'Loading…',
    logo: 'Logo',
    retryNow: 'Try again now',
    closeHint: 'You can close this page.',
    checkDevices: 'Check your camera and microphone',

    'unsupported.title': 'This browser cannot make video calls',
    'unsupported.text': 'Please open your link in a recent version of Chrome, Edge, Firefox or Safari.',
    'insecure.title': 'This page needs a secure connection',
    'insecure.text': 'Open the link exactly as it is in your invitation: it starts with https://.',
    'unknown.title': 'This link does not work',
    'unknown.text': 'Check that you copied the whole link from your invitation. If it still does not work, ask for a new invitation.',
    'gone.cancelled.title': 'This visit was cancelled',
    'gone.cancelled.text': 'Your link no longer works. If you think this is a mistake, contact the clinic.',
    'gone.rescheduled.title': 'This visit was rescheduled',
    'gone.rescheduled.text': 'Use the link in your newest invitation.',
    'gone.revoked.title': 'This link was revoked',
    'gone.revoked.text': 'You are no longer a participant of this visit.',
    'gone.ended.title': 'This visit has ended',
    'gone.ended.text': 'The time for this visit is over.',
    'gone.changed.title': 'This visit was changed',
    'gone.changed.text': 'Open your link again to join.',
    'gone.other.title': 'This link no longer works',
    'nolink.title': 'Open your personal link',
    'nolink.text': 'This page only works from the link in your invitation. Open that link again to join the visit.',
    'joinUnknown.title': 'This visit cannot be opened here',
    'joinUnknown.text': 'The video service of this visit is not one this page knows. Please try again later, or contact the clinic.',
    'hosted.hint': 'The call opens on this page. Your browser will ask to use your camera and microphone; you can choose them before you go in.',
    'hosted.frameTitle': 'Video call',
    'onTo.title': 'Taking you to your video call…',
    'onTo.text': 'The call runs on the clinic’s video service. If nothing happens in a few seconds, use the button.',
    'onTo.link': 'Go to the call',
    'toomany.title': 'Too many attempts',
    'toomany.text': 'Please wait {time}. The page will try again by itself.',
    'offline.title': 'Cannot reach the service',
    'offline.text': 'Check your internet connection. The page tries again in {time}.',
    'notready.title': 'This visit is not ready yet',
    'notready.text': 'Not everyone taking part is known yet. The page tries again by itself.',

    'waiting.title': 'Your visit starts at {time}',
    'waiting.titleDay': 'Your visit starts on {date} at {time}',
    'waiting.countdown': 'You can join in',
    'waiting.opensAt': 'The waiting room opens at {time}.',
    'waiting.keepOpen': 'Keep this page open: it continues by itself.',

    'prejoin.title': 'Ready to join?',
    'prejoin.as': 'You will join as',
    'prejoin.with': 'With {names}',
    'prejoin.scheduled': 'Scheduled {start} – {end}',
    'prejoin.hintOff': 'Your camera and microphone are off. You can turn them on now or during the visit.',
    'prejoin.devices': 'Devices',
    join: 'Join the visit',
    joining: 'Joining…',

    microphone: 'Microphone',
    camera: 'Camera',
    speaker: 'Speaker',
    cameraOff: 'Camera is off',
    micLevel: 'Microphone level',
    testSound: 'Play a test sound',
    defaultDevice: 'Default',
    deviceN: '{kind} {n}',
    'dev.denied.audio': 'Microphone access is blocked. To be heard, allow the microphone in your browser’s site settings and reload the page. You can still join without it.',
    'dev.denied.video': 'Camera access is blocked. To be seen, allow the camera in your browser’s site settings and reload the page. You can still join without it.',
    'dev.notfound.audio': 'No microphone was found. Connect one and try again, or join without it: the others will not hear you.',
    'dev.notfound.video': 'No camera was found. Connect one and try again, or join without it: the others will not see you.',
    'dev.inuse.audio': 'The microphone is being used by another application. Close it and try again.',
    'dev.inuse.video': 'The camera is being used by another application. Close it and try again.',
    'dev.failed.audio': 'The microphone could not be started.',
    'dev.failed.video': 'The camera could not be started.',

    screen: 'Share screen',
    present: 'Present to everyone',
    snapshot: 'Snapshot',
    chat: 'Chat',
    files: 'Files',
    devices: 'Devices',
    leave: 'Leave',
    close: 'Close',
    videos: 'Videos',
    controls: 'Call controls',
    you: 'You',
    youName: '{name} (you)',
    screenOf: '{name} (screen)',
    yourScreen: 'Your screen',
    alone: 'Waiting for the others to join…',
    reconnecting: 'Connection lost. Reconnecting…',
    reconnected: 'Reconnected',
    restarting: 'The service is restarting. Reconnecting…',
    connProblems: 'Connection problems: the picture or sound may stop for a moment.',
    ending: 'The visit ends in {time}',
    endsAt: 'Ends at {time}',
    peerJoined: '{name} joined the visit',
    peerLeft: '{name} left the visit',
    newMessage: 'New message from {name}',
    'present.you': 'You are presenting to everyone',
    'present.other': '{name} is presenting',
    'screen.failed': 'Screen sharing did not start.',
    'chat.label': 'Message',
    'chat.placeholder': 'Write a message and press Enter',
    'chat.send': 'Send',
    'chat.empty': 'No messages yet.',
    'files.upload': 'Share a file',
    'files.empty': 'No files yet.',
    'files.download': 'Download',
    'files.downloadName': 'Download {name}',
    'files.uploading': 'Sharing {name}…',
    'files.tooLarge': 'The file is too large.',
    'files.failed': 'The file could not be shared.',
    'files.downloadFailed': 'The file could not be downloaded.',
    'files.shared': '{name} shared a file',
    'snapshot.saved': 'Snapshot saved',
    'snapshot.shared': 'Snapshot shared in Files',
    'snapshot.none': 'There is no video to capture yet.',

    // The whiteboard and the live pointer (board.js).
    whiteboard: 'Whiteboard',
    pointer: 'Pointer',
    'board.label': 'Shared whiteboard',
    'board.tools': 'Whiteboard tools',
    'board.pen': 'Pen',
    'board.highlighter': 'Highlighter',
    'board.line': 'Line',
    'board.arrow': 'Arrow',
    'board.rect': 'Rectangle',
    'board.ellipse': 'Ellipse',
    'board.text': 'Text',
    'board.eraser': 'Eraser',
    'board.color0': 'Black',
    'board.color1': 'Red',
    'board.color2': 'Blue',
    'board.color3': 'Green',
    'board.color4': 'Orange',
    'board.color5': 'Purple',
    'board.undo': 'Undo',
    'board.clear': 'Clear',
    'board.open': 'Open on the board',
    'board.openSnapshot': 'A snapshot of the video',
    'board.prevPage': 'Previous page',
    'board.nextPage': 'Next page',
    'board.page': 'Page {n}',
    'board.export': 'Save as image',
    'board.shared': 'Whiteboard shared in Files',
    'board.saved': 'Whiteboard saved',
    'board.opening': 'Opening the file…',
    'board.cannotOpen': 'This file cannot be opened on the board.',
    'board.noPage': 'This PDF has no such page.',
    'board.textLabel': 'Text on the board: press Enter to add it',
    'board.drawing': '{name} is drawing on the whiteboard',
    'board.readOnly': 'You can watch the whiteboard; drawing is for others in this visit.',

    'end.expired.title': 'The visit has ended',
    'end.expired.text': 'The time for this visit is over. Thank you.',
    'end.revoked.title': 'Your link was revoked',
    'end.revoked.text': 'You are no longer a participant of this visit.',
    'end.cancelled.title': 'The visit was cancelled',
    'end.cancelled.text': 'The call was closed because the visit was cancelled.',
    'end.call-ended.title': 'The call has ended',
    'end.call-ended.text': 'The other participants have left the call.',
    'end.replaced.title': 'You opened this visit somewhere else',
    'end.replaced.text': 'The call continues in the other window or device.',
    'end.left.title': 'You left the visit',
    'end.left.text': 'Your camera and microphone are off.',
    'end.other.title': 'The call was closed',
    'end.declined.title': 'You were not let in',
    'end.declined.text': 'The doctor did not let you in to this call. If you think this is a mistake, contact the clinic, or open your link again to wait once more.',
    'end.removed.title': 'You were removed from the call',
    'end.removed.text': 'The doctor removed you from this call. You can go back to the waiting room and wait to be let in again.',
    'end.removed.again': 'Back to the waiting room',
    'mod.group': 'Moderate {name}',
    'mod.muteName': 'Mute {name}',
    'mod.unmuteName': 'Allow {name} to unmute',
    'mod.cameraOffName': 'Turn off the camera of {name}',
    'mod.cameraOnName': 'Allow {name} to turn the camera on',
    'mod.removeName': 'Remove {name} from the call (back to the waiting room)',
    'mod.youMuted': 'The doctor muted your microphone. You can unmute when the doctor allows it.',
    'mod.youUnmuted': 'The doctor allows you to unmute your microphone.',
    'mod.youCameraOff': 'The doctor turned off your camera. You can turn it on when the doctor allows it.',
    'mod.youCameraOn': 'The doctor allows you to turn your camera on again.',
    'mod.heldMic': 'Your microphone stays off until the doctor allows it.',
    'mod.heldCamera': 'Your camera stays off until the doctor allows it.',

    'lobby.waitTitle': 'You are in the waiting room',
    'lobby.appointment': 'Your appointment: {when}',
    'lobby.told': 'The doctor has been told you are here.',
    'lobby.notTold': 'The doctor will be told you are here as soon as they connect.',
    'lobby.hostAbsent': 'The doctor has not connected yet.',
    'lobby.hostConnected': 'The doctor is connected and about to start.',
    'lobby.hostInCall': 'The doctor is in the call and will let you in shortly.',
    'lobby.late': 'The doctor is running late: {n} min after the appointment time.',
    'lobby.expected': 'Expected start: {time}.',
    'lobby.expectedSoon': 'Expected start: as soon as the doctor lets you in.',
    'lobby.keepOpen': 'Keep this page open: the call starts by itself when you are let in. If you reload the page or lose the connection for a moment, you keep your place.',
    'lobby.leave': 'Leave the waiting room',
    'lobby.title': 'Waiting room',
    'lobby.list': 'People waiting',
    'lobby.empty': 'Nobody is waiting.',
    'lobby.auto': 'Admit automatically from the appointment start',
    'lobby.since': 'waiting since {time} ({minutes} min)',
    'lobby.admit': 'Admit',
    'lobby.decline': 'Decline',
    'lobby.admitName': 'Admit {name}',
    'lobby.declineName': 'Decline {name}',
    'lobby.arrived': '{name} is waiting to be let in.',
    'lobby.arrivedMany': '{n} people are waiting to be let in.',
    reenter: 'Re-enter the visit',
    continueHere: 'Continue here',

    'check.title': 'Check your camera and microphone',
    'check.intro': 'Test your devices before your visit. Nothing is recorded or sent.',
    'check.start': 'Start the test',
    'check.ok': 'Your browser can make video calls.',
    'check.speakerHint': 'Press the button: you should hear a short tone.',
    'check.micHint': 'Speak: the bar should move.',
  },
  it: {
    appName: 'Visita video',
    loading: 'Caricamento…',
    logo: 'Logo',
    retryNow: 'Riprova ora',
    closeHint: 'Puoi chiudere questa pagina.',
    checkDevices: 'Verifica videocamera e microfono',

    'unsupported.title': 'Questo browser non può fare videochiamate',
    'unsupported.text': 'Apri il link con una versione recente di Chrome, Edge, Firefox o Safari.',
    'insecure.title': 'Questa pagina richiede una connessione sicura',
    'insecure.text': 'Apri il link esattamente come appare nell’invito: inizia con https://.',
    'unknown.title': 'Questo link non funziona',
    'unknown.text': 'Controlla di aver copiato il link completo dall’invito. Se ancora non funziona, chiedi un nuovo invito.',
    'gone.cancelled.title': 'Questa visita è stata annullata',
    'gone.cancelled.text': 'Il tuo link non è più valido. Se pensi che sia un errore, contatta la struttura.',
    'gone.rescheduled.title': 'Questa visita è stata spostata',
    'gone.rescheduled.text': 'Usa il link dell’invito più recente.',
    'gone.revoked.title': 'Questo link è stato revocato',
    'gone.revoked.text': 'Non sei più un partecipante di questa visita.',
    'gone.ended.title': 'Questa visita è terminata',
    'gone.ended.text': 'Il tempo di questa visita è scaduto.',
    'gone.changed.title': 'Questa visita è stata modificata',
    'gone.changed.text': 'Apri di nuovo il tuo link per entrare.',
    'gone.other.title': 'Questo link non è più valido',
    'nolink.title': 'Apri il tuo link personale',
    'nolink.text': 'Questa pagina funziona solo dal link del tuo invito. Apri di nuovo quel link per entrare nella visita.',
    'joinUnknown.title': 'Questa visita non si può aprire qui',
    'joinUnknown.text': 'Il servizio video di questa visita non è tra quelli che questa pagina conosce. Riprova più tardi o contatta la struttura.',
    'hosted.hint': 'La chiamata si apre in questa pagina. Il browser chiederà di usare fotocamera e microfono; puoi sceglierli prima di entrare.',
    'hosted.frameTitle': 'Videochiamata',
    'onTo.title': 'Ti stiamo portando alla videochiamata…',
    'onTo.text': 'La chiamata si svolge sul servizio video della struttura. Se non succede nulla entro pochi secondi, usa il pulsante.',
    'onTo.link': 'Vai alla chiamata',
    'toomany.title': 'Troppi tentativi',
    'toomany.text': 'Attendi {time}. La pagina riproverà da sola.',
    'offline.title': 'Il servizio non è raggiungibile',
    'offline.text': 'Controlla la connessione a internet. La pagina riprova tra {time}.',
    'notready.title': 'Questa visita non è ancora pronta',
    'notready.text': 'Non tutti i partecipanti sono ancora noti. La pagina riprova da sola.',

    'waiting.title': 'La visita inizia alle {time}',
    'waiting.titleDay': 'La visita inizia {date} alle {time}',
    'waiting.countdown': 'Potrai entrare tra',
    'waiting.opensAt': 'La sala d’attesa apre alle {time}.',
    'waiting.keepOpen': 'Tieni aperta questa pagina: proseguirà da sola.',

    'prejoin.title': 'Pronto per entrare?',
    'prejoin.as': 'Entrerai come',
    'prejoin.with': 'Con {names}',
    'prejoin.scheduled': 'In programma {start} – {end}',
    'prejoin.hintOff': 'La videocamera e il microfono sono spenti. Puoi accenderli ora o durante la visita.',
    'prejoin.devices': 'Dispositivi',
    join: 'Entra nella visita',
    joining: 'Connessione…',

    microphone: 'Microfono',
    camera: 'Videocamera',
    speaker: 'Altoparlante',
    cameraOff: 'Videocamera spenta',
    micLevel: 'Livello del microfono',
    testSound: 'Riproduci un suono di prova',
    defaultDevice: 'Predefinito',
    deviceN: '{kind} {n}',
    'dev.denied.audio': 'L’accesso al microfono è bloccato. Per farti sentire, consenti il microfono nelle impostazioni del sito del browser e ricarica la pagina. Puoi entrare anche senza.',
    'dev.denied.video': 'L’accesso alla videocamera è bloccato. Per farti vedere, consenti la videocamera nelle impostazioni del sito del browser e ricarica la pagina. Puoi entrare anche senza.',
    'dev.notfound.audio': 'Nessun microfono trovato. Collegane uno e riprova, oppure entra senza: gli altri non ti sentiranno.',
    'dev.notfound.video': 'Nessuna videocamera trovata. Collegane una e riprova, oppure entra senza: gli altri non ti vedranno.',
    'dev.inuse.audio': 'Il microfono è usato da un’altra applicazione. Chiudila e riprova.',
    'dev.inuse.video': 'La videocamera è usata da un’altra applicazione. Chiudila e riprova.',
    'dev.failed.audio': 'Non è stato possibile avviare il microfono.',
    'dev.failed.video': 'Non è stato possibile avviare la videocamera.',

    screen: 'Condividi schermo',
    present: 'Presenta a tutti',
    snapshot: 'Istantanea',
    chat: 'Chat',
    files: 'File',
    devices: 'Dispositivi',
    leave: 'Esci',
    close: 'Chiudi',
    videos: 'Video',
    controls: 'Controlli della chiamata',
    you: 'Tu',
    youName: '{name} (tu)',
    screenOf: '{name} (schermo)',
    yourScreen: 'Il tuo schermo',
    alone: 'In attesa degli altri partecipanti…',
    reconnecting: 'Connessione persa. Riconnessione in corso…',
    reconnected: 'Connessione ristabilita',
    restarting: 'Il servizio si sta riavviando. Riconnessione in corso…',
    connProblems: 'Problemi di connessione: immagine e audio potrebbero fermarsi per un momento.',
    ending: 'La visita termina tra {time}',
    endsAt: 'Termina alle {time}',
    peerJoined: '{name} è nella visita',
    peerLeft: '{name} ha lasciato la visita',
    newMessage: 'Nuovo messaggio da {name}',
    'present.you': 'Stai presentando a tutti',
    'present.other': '{name} sta presentando',
    'screen.failed': 'La condivisione dello schermo non è partita.',
    'chat.label': 'Messaggio',
    'chat.placeholder': 'Scrivi un messaggio e premi Invio',
    'chat.send': 'Invia',
    'chat.empty': 'Ancora nessun messaggio.',
    'files.upload': 'Condividi un file',
    'files.empty': 'Ancora nessun file.',
    'files.download': 'Scarica',
    'files.downloadName': 'Scarica {name}',
    'files.uploading': 'Condivisione di {name}…',
    'files.tooLarge': 'Il file è troppo grande.',
    'files.failed': 'Non è stato possibile condividere il file.',
    'files.downloadFailed': 'Non è stato possibile scaricare il file.',
    'files.shared': '{name} ha condiviso un file',
    'snapshot.saved': 'Istantanea salvata',
    'snapshot.shared': 'Istantanea condivisa nei file',
    'snapshot.none': 'Non c’è ancora un video da catturare.',

    // La lavagna e il puntatore (board.js).
    whiteboard: 'Lavagna',
    pointer: 'Puntatore',
    'board.label': 'Lavagna condivisa',
    'board.tools': 'Strumenti della lavagna',
    'board.pen': 'Penna',
    'board.highlighter': 'Evidenziatore',
    'board.line': 'Linea',
    'board.arrow': 'Freccia',
    'board.rect': 'Rettangolo',
    'board.ellipse': 'Ellisse',
    'board.text': 'Testo',
    'board.eraser': 'Gomma',
    'board.color0': 'Nero',
    'board.color1': 'Rosso',
    'board.color2': 'Blu',
    'board.color3': 'Verde',
    'board.color4': 'Arancione',
    'board.color5': 'Viola',
    'board.undo': 'Annulla',
    'board.clear': 'Cancella tutto',
    'board.open': 'Apri sulla lavagna',
    'board.openSnapshot': 'Un’istantanea del video',
    'board.prevPage': 'Pagina precedente',
    'board.nextPage': 'Pagina successiva',
    'board.page': 'Pagina {n}',
    'board.export': 'Salva come immagine',
    'board.shared': 'Lavagna condivisa nei file',
    'board.saved': 'Lavagna salvata',
    'board.opening': 'Apertura del file…',
    'board.cannotOpen': 'Questo file non si può aprire sulla lavagna.',
    'board.noPage': 'Questo PDF non ha questa pagina.',
    'board.textLabel': 'Testo sulla lavagna: premi Invio per aggiungerlo',
    'board.drawing': '{name} sta disegnando sulla lavagna',
    'board.readOnly': 'Puoi guardare la lavagna; disegnano gli altri partecipanti.',

    'end.expired.title': 'La visita è terminata',
    'end.expired.text': 'Il tempo di questa visita è scaduto. Grazie.',
    'end.revoked.title': 'Il tuo link è stato revocato',
    'end.revoked.text': 'Non sei più un partecipante di questa visita.',
    'end.cancelled.title': 'La visita è stata annullata',
    'end.cancelled.text': 'La chiamata è stata chiusa perché la visita è stata annullata.',
    'end.call-ended.title': 'La chiamata è terminata',
    'end.call-ended.text': 'Gli altri partecipanti hanno lasciato la chiamata.',
    'end.replaced.title': 'Hai aperto questa visita altrove',
    'end.replaced.text': 'La chiamata continua nell’altra finestra o nell’altro dispositivo.',
    'end.left.title': 'Hai lasciato la visita',
    'end.left.text': 'La videocamera e il microfono sono spenti.',
    'end.other.title': 'La chiamata è stata chiusa',
    'end.declined.title': 'L’accesso alla chiamata non è stato consentito',
    'end.declined.text': 'Il medico non ti ha fatto entrare in questa chiamata. Se pensi che sia un errore, contatta la struttura, oppure apri di nuovo il tuo link per rimetterti in attesa.',
    'end.removed.title': 'Sei stato tolto dalla chiamata',
    'end.removed.text': 'Il medico ti ha tolto da questa chiamata. Puoi tornare nella sala d’attesa e aspettare di essere fatto entrare di nuovo.',
    'end.removed.again': 'Torna nella sala d’attesa',
    'mod.group': 'Modera {name}',
    'mod.muteName': 'Disattiva il microfono di {name}',
    'mod.unmuteName': 'Consenti a {name} di riattivare il microfono',
    'mod.cameraOffName': 'Spegni la videocamera di {name}',
    'mod.cameraOnName': 'Consenti a {name} di riaccendere la videocamera',
    'mod.removeName': 'Togli {name} dalla chiamata (torna nella sala d’attesa)',
    'mod.youMuted': 'Il medico ha disattivato il tuo microfono. Potrai riattivarlo quando il medico lo consentirà.',
    'mod.youUnmuted': 'Il medico ti consente di riattivare il microfono.',
    'mod.youCameraOff': 'Il medico ha spento la tua videocamera. Potrai riaccenderla quando il medico lo consentirà.',
    'mod.youCameraOn': 'Il medico ti consente di riaccendere la videocamera.',
    'mod.heldMic': 'Il tuo microfono resta spento finché il medico non lo consente.',
    'mod.heldCamera': 'La tua videocamera resta spenta finché il medico non lo consente.',

    'lobby.waitTitle': 'Sei nella sala d’attesa',
    'lobby.appointment': 'Il tuo appuntamento: {when}',
    'lobby.told': 'Il medico è stato avvisato che sei qui.',
    'lobby.notTold': 'Il medico sarà avvisato che sei qui appena si collega.',
    'lobby.hostAbsent': 'Il medico non si è ancora collegato.',
    'lobby.hostConnected': 'Il medico è collegato e sta per iniziare.',
    'lobby.hostInCall': 'Il medico è in chiamata e ti farà entrare a breve.',
    'lobby.late': 'Il medico è in ritardo: {n} min dopo l’orario dell’appuntamento.',
    'lobby.expected': 'Inizio previsto: {time}.',
    'lobby.expectedSoon': 'Inizio previsto: appena il medico ti fa entrare.',
    'lobby.keepOpen': 'Tieni aperta questa pagina: la chiamata inizia da sola quando vieni fatto entrare. Se ricarichi la pagina o perdi la connessione per un momento, mantieni il tuo posto.',
    'lobby.leave': 'Esci dalla sala d’attesa',
    'lobby.title': 'Sala d’attesa',
    'lobby.list': 'Persone in attesa',
    'lobby.empty': 'Nessuno è in attesa.',
    'lobby.auto': 'Fai entrare automaticamente dall’inizio dell’appuntamento',
    'lobby.since': 'in attesa dalle {time} ({minutes} min)',
    'lobby.admit': 'Fai entrare',
    'lobby.decline': 'Rifiuta',
    'lobby.admitName': 'Fai entrare {name}',
    'lobby.declineName': 'Rifiuta {name}',
    'lobby.arrived': '{name} attende di entrare.',
    'lobby.arrivedMany': '{n} persone attendono di entrare.',
    reenter: 'Rientra nella visita',
    continueHere: 'Continua qui',

    'check.title': 'Verifica videocamera e microfono',
    'check.intro': 'Prova i tuoi dispositivi prima della visita. Nulla viene registrato o inviato.',
    'check.start': 'Avvia la prova',
    'check.ok': 'Il tuo browser può fare videochiamate.',
    'check.speakerHint': 'Premi il pulsante: dovresti sentire un breve suono.',
    'check.micHint': 'Parla: la barra dovrebbe muoversi.',
  },
};

let current = 'en';

// chooseLanguage picks the first supported language among the
// participant's, ?lang= and the browser's, sets it and returns it.
export function chooseLanguage(participant) {
  const candidates = [participant, new URLSearchParams(location.search).get('lang'), ...(navigator.languages || [navigator.language])];
  for (const c of candidates) {
    const primary = String(c || '').toLowerCase().split(/[-_]/)[0];
    if (messages[primary]) {
      current = primary;
      break;
    }
  }
  document.documentElement.lang = current;
  return current;
}

// t returns the text of key in the current language, with {name} fields
// filled from vars.
export function t(key, vars) {
  const s = messages[current][key] ?? messages.en[key] ?? key;
  return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
}

// sameDay reports whether two dates fall on the same local day.
export function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

// formatClock is a local time of day (10:30).
export function formatClock(d) {
  return new Intl.DateTimeFormat(current, { hour: 'numeric', minute: '2-digit' }).format(d);
}

// formatDay is a local date (Tuesday 12 March).
export function formatDay(d) {
  return new Intl.DateTimeFormat(current, { weekday: 'long', day: 'numeric', month: 'long' }).format(d);
}

// formatDuration shows milliseconds as 1:02:03 or 02:03, or as days and
// hours past a day.
export function formatDuration(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const two = (n) => String(n).padStart(2, '0');
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h}:${two(m)}:${two(sec)}`;
  return `${two(m)}:${two(sec)}`;
}

// formatList joins names (A, B and C).
export function formatList(names) {
  try {
    return new Intl.ListFormat(current, { style: 'long', type: 'conjunction' }).format(names);
  } catch {
    return names.join(', ');
  }
}

// formatSize shows a byte count (1.2 MB).
export function formatSize(n) {
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return new Intl.NumberFormat(current, { maximumFractionDigits: i === 0 ? 0 : 1 }).format(v) + ' ' + units[i];
}
