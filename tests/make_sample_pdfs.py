"""Write the two PDF documents of `sample_corpus/` from the page texts below.

    .venv/bin/python -m tests.make_sample_pdfs        # from the repository root

The texts are part of the fictional Skarnhold Observatory corpus (see
`sample_corpus/README.md`). Specific facts live on specific pages on purpose:
`sample_corpus/questions.jsonl` names the page of each PDF answer, and
`tests/test_sample_corpus.py` checks it. Keep each page under ~45 wrapped
lines (pdfmaker wraps at 90 characters and does not flow onto a new page),
and keep the text Latin-1.
"""

# Page texts keep one paragraph per line, as pdfmaker wraps them itself.
# ruff: noqa: E501

from __future__ import annotations

from pathlib import Path

from tests.pdfmaker import make_pdf

CORPUS = Path(__file__).resolve().parent.parent / "sample_corpus"

LOCHAN_TITLE = "LOCHAN Spectrograph Quickstart"

LOCHAN_PAGES = [
    """LOCHAN SPECTROGRAPH - QUICKSTART CARD
Skarnhold Observatory, Great Dome warm room. Page 1 of 2: the instrument and the afternoon.

WHAT LOCHAN IS

LOCHAN is the fibre-fed echelle spectrograph of the 1.6-metre Maribel telescope, installed in 2019. Light from a star is collected at the Cassegrain focus of Maribel by the fibre head and carried by a 22-metre optical fibre down to the spectrograph, which stands in its own sealed, temperature-controlled room on the lower level of the Great Dome, next to the warm room.

Key numbers:
- Resolving power: R = 42,000 (one spectral element of about 0.014 nm at 600 nm).
- Wavelength range: 380 to 880 nm in a single exposure, spread over 61 echelle orders.
- Detector: a 4k x 4k CCD cooled to -100 C by a closed-cycle cooler.
- Spectrograph room held at 17.00 C, stable to 0.01 C over a night.
- Limiting magnitude: V = 13 for a useful spectrum in one hour in good seeing.

LOCHAN is used mainly to measure radial velocities, the small back-and-forth motions of stars that reveal orbiting planets and companion stars, and for spectra of comets.

AFTERNOON CALIBRATIONS

Start the afternoon calibrations at least three hours before sunset, with the Great Dome shutter closed and the mirror covers shut. From any terminal on tern or gannet, run:

    lochan calib --afternoon

The script takes about 70 minutes and records, in this order:
1. 11 bias frames (zero-second exposures);
2. 11 tungsten flat frames, to trace the echelle orders and measure the pixel sensitivity;
3. 5 thorium-argon (ThAr) arc frames, which give the wavelength scale.

Check the calibration report at the end. If the ThAr lines have shifted by more than 0.1 pixel since the previous afternoon, do not start the night: call the LOCHAN instrument scientist, because the spectrograph room may have warmed up.""",
    """LOCHAN SPECTROGRAPH - QUICKSTART CARD
Page 2 of 2: observing at night and shutting down.

ACQUIRING A STAR

1. Point Maribel at the target and make sure DOMEKEEPER is slaving the Great Dome.
2. Open the fibre head shutter with: lochan fibre open
3. Centre the star on the fibre with the guide camera, called GLINT. The fibre entrance is 1.6 arcseconds across and appears as a small dark hole in the GLINT image; the star must sit on the hole.
4. Start the exposure: lochan expose --target NAME --seconds N

EXPOSURE RULES

- The longest single LOCHAN exposure is 1,800 seconds. Longer exposures collect too many cosmic-ray hits on the CCD; take several 1,800-second exposures instead.
- Take a new ThAr arc between targets whenever the Great Dome temperature has changed by more than 3 C since the last arc.
- For radial-velocity targets, always use the simultaneous reference mode (lochan expose --simref), which sends ThAr light down the second fibre at the same time as the starlight.
- Never leave GLINT guiding on a star brighter than V = 4 for more than a minute: it will saturate and lose the star.

CARE OF THE FIBRE

The optical fibre is the most fragile part of LOCHAN. Never bend the fibre tighter than a 10-centimetre radius, never step on the fibre conduit on the Great Dome floor, and never disconnect the fibre head at the telescope. If the fibre is damaged, LOCHAN is out of use for weeks while a replacement is spliced.

SHUTTING DOWN

At the end of the night, run lochan fibre close, then lochan calib --morning, which records 5 ThAr arcs and 11 bias frames. The CCD stays cold all the time; never switch off its cooler yourself.

PROBLEMS

Call the LOCHAN instrument scientist on extension 270. Between 23:00 and 07:00 call only if the instrument is in danger; data problems can wait for the morning.""",
]

REPORT_TITLE = "Skarnhold Observatory Annual Report 2023"

REPORT_PAGES = [
    """TESSALY SKY TRUST
SKARNHOLD OBSERVATORY - ANNUAL REPORT 2023
Presented to the Board of Trustees, April 2024

CONTENTS
Page 1 - Director's foreword
Page 2 - Science highlights
Page 3 - Operations and engineering
Page 4 - Finances
Page 5 - Public outreach
Page 6 - Outlook for 2024

DIRECTOR'S FOREWORD

2023 was Skarnhold's sixtieth year of observing, and one of its most memorable. In September the Wren found its first comet; in October we celebrated sixty years since Maribel's first light; and in between, the crew on Orrin Tor kept two telescopes working through one of the hardest Januaries on record.

The weather was kind overall. In 2023 Skarnhold recorded 187 usable observing nights, of which 129 were photometric: clear from dusk to dawn with no cloud at all. The median seeing over the year was 0.78 arcseconds, a little better than the long-term station median.

I want to thank every member of staff, and in particular the night assistants, whose patience and care make every one of these numbers possible. I also thank our volunteers, who gave more than 4,000 hours to the Trust this year, and the people of Lower Brisk, who continue to treat the observatory as part of their village.

Dr. Ingrid Halloway-Sorensen
Director, Skarnhold Observatory""",
    """SCIENCE HIGHLIGHTS

Comet C/2023 S4 (Skarnhold). Discovered on 19 September by night assistant Emeka Oduya in images from the Wren astrograph's automatic survey. Follow-up LOCHAN spectra show strong carbon monoxide emission. The comet's orbit has a period of roughly 4,300 years. A paper on the discovery has been accepted for publication.

Publications. Astronomers using Skarnhold data published 14 refereed papers in 2023, up from 9 in 2022. Seven used LOCHAN, five used the Wren, and two used archival glass plates from the 1960s.

The LOCHAN radial-velocity programme. The long-running search for planets around nearby red dwarf stars reached a milestone: the instrument's long-term velocity stability, measured on standard stars over the whole year, was 1.8 metres per second, the best in LOCHAN's history. The programme announced a candidate planet of about eight Earth masses orbiting the red dwarf Skarnhold-RV 7 every 23.6 days, now awaiting confirmation.

The Wren survey. The Wren imaged 5,200 square degrees of sky and reported 3,412 asteroid positions to the Minor Planet Center, including 17 near-Earth asteroids.

Telescope time. Requests for time on Maribel exceeded the available nights by a factor of 2.7, the highest oversubscription since the LOCHAN spectrograph arrived. Time was allocated to 22 research groups from 9 countries.

The plate archive. Student volunteers scanned 2,150 of the observatory's historical glass photographic plates this year, so that astronomers can compare stars as they were in the 1960s with the sky today.""",
    """OPERATIONS AND ENGINEERING

Observing time. Maribel's dome was open for 1,604 hours during 2023. Technical downtime, the share of clear-sky hours lost to faults, was 3.8 percent. The single largest loss was the replacement of Maribel's original 1963 declination worm gear in August, which kept Maribel closed for four nights.

Power. In January, generator Pollux failed during a cold snap when summer-grade diesel gelled in the fuel filters (incident report IR-2023-004). Since then an anti-gel additive is used in every winter delivery and the exposed fuel pipe has a heat trace. The station burned 41,300 litres of diesel in 2023, down 9 percent on 2022, while the solar array produced 52 megawatt-hours.

Access. The Kettleback funicular was closed for wind or ice on 38 days in 2023, 29 of them between November and March. Old Bertha made 112 trips on the col track; its gearbox was overhauled in October.

Weather station. The old cup anemometer on the Skua mast froze solid on 14 January and was replaced in March by an ultrasonic anemometer with no moving parts, supported by DOMEKEEPER 4.2.

Buildings. New larch bunk beds were fitted in the Masons' Room. The Great Dome slit seals, replaced in late 2022, kept the dome dry through the whole year.

Safety. There were no lost-time injuries in 2023. Staff reported 9 near misses; the most serious was a slip on ice at Kettleback Top in February, after which the upper station steps received heated treads.""",
    """FINANCES

The Trust's accounts for 2023 were audited by Brisk & Corrant Accountants. In 2023 the Trust's total income was 1,940,000 crowns and its total expenditure 1,909,000 crowns, leaving a small surplus. Amounts below are in Veldan crowns.

INCOME
Income from the Tessaly endowment ........... 820,000
Research grants ............................. 610,000
Telescope time fees from universities ....... 290,000
Open nights, cafe and shop .................. 142,000
Donations and legacies ....................... 78,000
Total income .............................. 1,940,000

EXPENDITURE
Staff salaries and pensions ............... 1,020,000
Funicular fares and transport ............... 164,000
Maintenance and spare parts ................. 233,000
Diesel fuel ................................. 96,000
Food and kitchen ............................ 71,000
Insurance ................................... 88,000
Science instruments and computing ........... 187,000
Outreach and volunteer costs ................ 50,000
Total expenditure ......................... 1,909,000

SURPLUS FOR THE YEAR ............................ 31,000

Notes. Diesel costs fell for the third year running. The single largest maintenance cost was the new declination worm gear for Maribel, at 41,000 crowns. Funicular fares rose by 6 percent in April 2023. The endowment fund stood at 21.4 million crowns at 31 December 2023.

The Treasurer notes that open-night ticket prices have not risen since 2016, and proposes an increase for 2024. The board has also received quotes for a battery bank for the solar array.""",
    """PUBLIC OUTREACH

Open nights. In summer 2023 the Lantern welcomed 6,412 visitors to open nights, the most since the Lantern opened in 1982. Thirty-one open nights were held and four were cancelled because the funicular could not run in high wind.

School groups. 41 school groups, 1,180 pupils in all, visited on weekday afternoons, free of charge. Every group looked at the Sun through the solar filter on Little Tom and toured the Great Dome gallery. For the first time, two groups came from the coast at Halsey Quay, with travel paid by a donation from the Halsey Quay Harbour Board.

The sixtieth anniversary. 231 guests attended the anniversary evening on 14 October, including Agathe Rennequin's grand-niece. The bronze plaque unveiled in the Great Dome gallery reads: "Round, sharp, and full of suns."

Radio. The monthly programme "Skarnhold Sky Diary" on Veldan Radio, presented by outreach officer Anouk Desrosiers, completed its fifth year, with an average of 18,000 listeners per episode.

Volunteers. 46 volunteers guided open nights, baked for the cafe, and scanned glass plates. The Volunteer of the Year, Theodora Pirrie-Nakamura, received the Rennequin Cup.

Comet naming competition. After the discovery of comet Skarnhold, pupils of the Lower Brisk school were invited to name the Wren's survey camera. The winning name, Magpie, was chosen because "it collects shiny things".""",
    """OUTLOOK FOR 2024

Battery bank. The Trust plans to install a 30 kilowatt-hour battery bank in the power house in September 2024, storing solar power for use at night. The engineering team expects Castor and Pollux to run about 1,500 fewer hours a year as a result.

Kettleback funicular. The Lower Brisk Funicular Company will replace the haul cable and the cars in spring 2025. The observatory will prepare a supply plan using Old Bertha and helicopter flights for the seven weeks of closure.

Staff. The Trust will recruit a volunteer coordinator to support the growing volunteer programme, and a fourth night assistant so that the night rota no longer depends on overtime during dark runs.

Science. The Director will present to the Board a proposal for a second, smaller spectrograph for the Wren. LOCHAN will begin a new two-year programme to follow comet Skarnhold as it moves away from the Sun.

The plate archive. The goal is to finish scanning all 11,600 glass plates in the archive by the end of 2026, and to publish them online free of charge.

Dark skies. The new dark-sky ordinance of the Lower Brisk parish council takes effect on 1 May 2024. The observatory will measure the sky brightness over the valley each month to record its effect.

Ticket prices. As agreed by the board in March 2024, adult open-night tickets rise from 1 June 2024, the first increase since 2016, with school visits remaining free.

Sixty years on, the mountain still has clear nights to offer, and Skarnhold is ready to use them.""",
]


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    make_pdf(CORPUS / "lochan_quickstart.pdf", LOCHAN_PAGES, title=LOCHAN_TITLE)
    make_pdf(CORPUS / "annual_report_2023.pdf", REPORT_PAGES, title=REPORT_TITLE)
    for name in ("lochan_quickstart.pdf", "annual_report_2023.pdf"):
        print(CORPUS / name)


if __name__ == "__main__":
    main()
