package bungietest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// reasonNames are the names the report reason categories and reasons carry in the
// manifest's other languages, by Bungie language code and English name. Descriptions,
// which the bot does not read, stay English.
var reasonNames = map[string]map[string]string{
	"de": {
		"Abusive Chat": "Beleidigender Chat", "Insult": "Beleidigung", "Harassment": "Belästigung", "Other": "Sonstiges",
		"Verbal Abuse": "Verbale Beleidigung", "Vulgar Language": "Vulgäre Sprache", "Yelling": "Anschreien",
		"Spam":       "Spam",
		"Inactivity": "Inaktivität", "AFK": "AFK", "Using Bots": "Verwendung von Bots",
		"Quitting": "Verlassen", "Quit Mid-Activity": "Während der Aktivität verlassen", "Quit at Start": "Zu Beginn verlassen",
		"Griefing": "Griefing", "Kicked from fireteam": "Aus dem Einsatztrupp geworfen", "Sabotage": "Sabotage",
		"Exploiting": "Ausnutzen von Fehlern", "Exploiting Map": "Ausnutzen der Karte", "Exploiting Game": "Ausnutzen des Spiels",
		"Cheating": "Betrug", "Hacking": "Hacken", "Network Manipulation": "Netzwerkmanipulation",
		"Bad Connection": "Schlechte Verbindung", "Severe": "Schwer", "Moderate": "Mäßig",
	},
	"fr": {
		"Abusive Chat": "Discussion abusive", "Insult": "Insulte", "Harassment": "Harcèlement", "Other": "Autre",
		"Verbal Abuse": "Violence verbale", "Vulgar Language": "Langage vulgaire", "Yelling": "Cris",
		"Spam":       "Spam",
		"Inactivity": "Inactivité", "AFK": "AFK", "Using Bots": "Utilisation de bots",
		"Quitting": "Abandon", "Quit Mid-Activity": "Abandon en cours d'activité", "Quit at Start": "Abandon au début",
		"Griefing": "Nuisance", "Kicked from fireteam": "Exclusion de l'escouade", "Sabotage": "Sabotage",
		"Exploiting": "Exploitation de failles", "Exploiting Map": "Faille de la carte", "Exploiting Game": "Faille du jeu",
		"Cheating": "Triche", "Hacking": "Piratage", "Network Manipulation": "Manipulation du réseau",
		"Bad Connection": "Mauvaise connexion", "Severe": "Grave", "Moderate": "Modérée",
	},
	"es": {
		"Abusive Chat": "Chat ofensivo", "Insult": "Insulto", "Harassment": "Acoso", "Other": "Otro",
		"Verbal Abuse": "Abuso verbal", "Vulgar Language": "Lenguaje vulgar", "Yelling": "Gritos",
		"Spam":       "Spam",
		"Inactivity": "Inactividad", "AFK": "AFK", "Using Bots": "Uso de bots",
		"Quitting": "Abandono", "Quit Mid-Activity": "Abandono a mitad de actividad", "Quit at Start": "Abandono al inicio",
		"Griefing": "Molestar a otros", "Kicked from fireteam": "Expulsión del escuadrón", "Sabotage": "Sabotaje",
		"Exploiting": "Aprovechamiento de errores", "Exploiting Map": "Errores del mapa", "Exploiting Game": "Errores del juego",
		"Cheating": "Trampas", "Hacking": "Hackeo", "Network Manipulation": "Manipulación de red",
		"Bad Connection": "Mala conexión", "Severe": "Grave", "Moderate": "Moderada",
	},
	"pt-br": {
		"Abusive Chat": "Chat abusivo", "Insult": "Insulto", "Harassment": "Assédio", "Other": "Outro",
		"Verbal Abuse": "Abuso verbal", "Vulgar Language": "Linguagem vulgar", "Yelling": "Gritaria",
		"Spam":       "Spam",
		"Inactivity": "Inatividade", "AFK": "AFK", "Using Bots": "Uso de bots",
		"Quitting": "Abandono", "Quit Mid-Activity": "Abandono no meio da atividade", "Quit at Start": "Abandono no início",
		"Griefing": "Atrapalhar a partida", "Kicked from fireteam": "Expulsão da equipe de combate", "Sabotage": "Sabotagem",
		"Exploiting": "Exploração de falhas", "Exploiting Map": "Falha do mapa", "Exploiting Game": "Falha do jogo",
		"Cheating": "Trapaça", "Hacking": "Hack", "Network Manipulation": "Manipulação de rede",
		"Bad Connection": "Conexão ruim", "Severe": "Grave", "Moderate": "Moderada",
	},
	"pl": {
		"Abusive Chat": "Obraźliwy czat", "Insult": "Obraza", "Harassment": "Nękanie", "Other": "Inne",
		"Verbal Abuse": "Przemoc słowna", "Vulgar Language": "Wulgarny język", "Yelling": "Krzyki",
		"Spam":       "Spam",
		"Inactivity": "Brak aktywności", "AFK": "AFK", "Using Bots": "Używanie botów",
		"Quitting": "Opuszczanie gry", "Quit Mid-Activity": "Wyjście w trakcie aktywności", "Quit at Start": "Wyjście na starcie",
		"Griefing": "Celowe przeszkadzanie", "Kicked from fireteam": "Wyrzucenie z drużyny", "Sabotage": "Sabotaż",
		"Exploiting": "Wykorzystywanie błędów", "Exploiting Map": "Błędy mapy", "Exploiting Game": "Błędy gry",
		"Cheating": "Oszukiwanie", "Hacking": "Hakowanie", "Network Manipulation": "Manipulacja siecią",
		"Bad Connection": "Słabe połączenie", "Severe": "Poważne", "Moderate": "Umiarkowane",
	},
}

// Languages are the Bungie language codes whose manifest files the fake serves, in
// order: en, and those it has names for.
func Languages() []string {
	langs := slices.Collect(maps.Keys(reasonNames))
	langs = append(langs, "en")
	slices.Sort(langs)
	return langs
}

// ReasonName is what the manifest in lang calls the category or reason English names
// name (name itself in English, or when the fake has no other).
func ReasonName(lang, name string) string {
	if n, ok := reasonNames[lang][name]; ok {
		return n
	}
	return name
}

// localizedReasons is the DestinyReportReasonCategoryDefinition file en with every
// category's and reason's name as the manifest in lang has it.
func localizedReasons(en []byte, lang string) ([]byte, error) {
	var defs map[string]map[string]any
	if err := json.Unmarshal(en, &defs); err != nil {
		return nil, fmt.Errorf("decoding the report reasons: %w", err)
	}
	rename := func(def map[string]any) error {
		dp, ok := def["displayProperties"].(map[string]any)
		name, _ := dp["name"].(string)
		if !ok || name == "" {
			return fmt.Errorf("a definition without displayProperties.name: %v", def)
		}
		if _, known := reasonNames[lang][name]; !known {
			return fmt.Errorf("no %s name for %q", lang, name)
		}
		dp["name"] = reasonNames[lang][name]
		return nil
	}
	for _, c := range defs {
		if err := rename(c); err != nil {
			return nil, err
		}
		reasons, _ := c["reasons"].(map[string]any)
		for _, r := range reasons {
			if err := rename(r.(map[string]any)); err != nil {
				return nil, err
			}
		}
	}
	return json.MarshalIndent(defs, "", "  ")
}
